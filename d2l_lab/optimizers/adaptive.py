"""Per-coordinate step sizes from squared-gradient statistics (book sections 12.7-12.9)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer, real_pairs, scratch
from d2l_lab.optimizers.table import ALGORITHMS

_ADAGRAD, _RMSPROP, _ADADELTA = (ALGORITHMS[name].defaults for name in ("adagrad", "rmsprop", "adadelta"))


class AdaGrad(Optimizer):
    """AdaGrad; torch.optim.Adagrad, same signature and iterates.

        g  <- g + weight_decay * x
        s  <- s + g * g                          (state "sum", starts at initial_accumulator_value)
        lr_t = lr / (1 + (t - 1) * lr_decay)     (t: state "step")
        x  <- x - lr_t * g / (sqrt(s) + eps)

    eps sits OUTSIDE the square root, as in torch, so parity with torch.optim is exact; the
    book writes sqrt(s + eps). Defaults are the book's: lr 0.1, eps 1e-6 (torch: 0.01, 1e-10).
    A sparse gradient updates s and x at its (coalesced) indices only, as torch does; weight
    decay is then refused, as torch refuses it.
    """

    buffers = ("sum",)
    elementwise = True
    supports_sparse = True
    renamed = {"sum_sq": "sum"}

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _ADAGRAD["lr"], lr_decay: float = 0.0,
                 weight_decay: float = _ADAGRAD["weight_decay"], initial_accumulator_value: float = 0.0,
                 eps: float = _ADAGRAD["eps"], foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, foreach=foreach,
                         maximize=maximize, differentiable=differentiable, fused=fused)
        # torch fills AdaGrad's state at construction, so its state dict lists every parameter
        # and loads only where each one has a "sum": do the same for state dicts to interchange.
        for group in self.param_groups:
            for param in group["params"]:
                self.state[param].update(self.init_state(param, group))

    def init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        value = group["initial_accumulator_value"]
        fill = complex(value, value) if param.is_complex() else value  # each real coordinate starts there
        return {"step": 0, "sum": torch.full_like(param, fill, memory_format=torch.preserve_format)}

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, lr_decay, eps, weight_decay = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
        if weight_decay and grad.is_sparse:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        lr_t = lr / (1 + (state["step"] - 1) * lr_decay)
        if g.is_sparse:
            g = g.coalesce()  # duplicate indices must be summed before squaring
            s = state["sum"].add_(sparse_like(g, g.values().pow(2)))
            std = s.sparse_mask(g).coalesce().values().sqrt_().add_(eps)
            param.add_(sparse_like(g, g.values() / std), alpha=-lr_t)
            return
        s = state["sum"].addcmul_(g, g, value=1)
        param.addcdiv_(g, scratch(s.sqrt()).add_(eps), value=-lr_t)


def sparse_like(grad: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A sparse tensor with `grad`'s (coalesced, hence valid) indices and the given values."""
    return torch.sparse_coo_tensor(grad.indices(), values, grad.shape, check_invariants=False)


class RMSProp(Optimizer):
    """RMSProp; torch.optim.RMSprop, same signature and iterates.

        g <- g + weight_decay * x
        s <- alpha * s + (1 - alpha) * g * g        (state "square_avg", starts at 0)
        d <- sqrt(s) + eps                          (uncentred)
        d <- sqrt(s - m * m) + eps                  (centered=True; m <- lerp(m, g, 1 - alpha),
                                                     state "grad_avg")
        x <- x - lr * g / d                         (momentum = 0)
        b <- momentum * b + g / d,  x <- x - lr * b (momentum > 0; state "momentum_buffer")

    The book's gamma is torch's `alpha` (the config keeps the book's name). eps sits OUTSIDE
    the square root, as in torch, so parity with torch.optim is exact; the book writes
    sqrt(s + eps). Defaults are the book's: lr 0.01, alpha 0.9, eps 1e-6 (torch: alpha 0.99,
    eps 1e-8).
    """

    buffers = ("square_avg", "momentum_buffer", "grad_avg")
    elementwise = True
    renamed = {"gamma": "alpha"}

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _RMSPROP["lr"],
                 alpha: float = _RMSPROP["gamma"], eps: float = _RMSPROP["eps"],
                 weight_decay: float = _RMSPROP["weight_decay"], momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, capturable=capturable, foreach=foreach, maximize=maximize,
                         differentiable=differentiable)

    def buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("square_avg", *(("momentum_buffer",) if group["momentum"] > 0 else ()),
                *(("grad_avg",) if group["centered"] else ()))

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, weight_decay = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        s = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if group["centered"]:
            m = state["grad_avg"].lerp_(g, 1 - alpha)
            d = scratch(s.addcmul(m, m, value=-1).sqrt_()).add_(eps)
        else:
            d = scratch(s.sqrt()).add_(eps)
        if group["momentum"] > 0:
            b = state["momentum_buffer"].mul_(group["momentum"]).addcdiv_(g, d)
            param.add_(b, alpha=-lr)
        else:
            param.addcdiv_(g, d, value=-lr)


class AdaDelta(Optimizer):
    """AdaDelta; torch.optim.Adadelta, same signature and iterates.

        g  <- g + weight_decay * x
        s  <- rho * s + (1 - rho) * g * g                   (state "square_avg", starts at 0)
        g' <- sqrt(delta + eps) / sqrt(s + eps) * g          (delta: state "acc_delta", starts at 0)
        delta <- rho * delta + (1 - rho) * g' * g'
        x  <- x - lr * g'

    eps sits INSIDE both square roots, in the book and in torch alike (it also seeds the very
    first step, when delta is 0). The book has no learning rate; torch's lr multiplies the
    step, and lr 1.0 (the default) is the book's algorithm. Defaults: rho 0.9, eps 1e-5 (book;
    torch's eps is 1e-6). A complex x is updated as torch does it: s, delta and g' per real
    coordinate, but the last line in complex arithmetic (lr * g' rounded before the sum).
    """

    buffers = ("square_avg", "acc_delta")
    elementwise = True
    complex_as_real = False

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _ADADELTA["lr"],
                 rho: float = _ADADELTA["rho"], eps: float = _ADADELTA["eps"],
                 weight_decay: float = _ADADELTA["weight_decay"], foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False, differentiable: bool = False):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                         capturable=capturable, maximize=maximize, differentiable=differentiable)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        g = real_pairs(grad.add(param, alpha=weight_decay) if weight_decay else grad)
        s = real_pairs(state["square_avg"]).mul_(rho).addcmul_(g, g, value=1 - rho)
        delta = real_pairs(state["acc_delta"])
        g_rescaled = scratch(delta.add(eps).sqrt_()).div_(s.add(eps).sqrt_()).mul_(g)
        delta.mul_(rho).addcmul_(g_rescaled, g_rescaled, value=1 - rho)
        param.add_(torch.view_as_complex(g_rescaled) if param.is_complex() else g_rescaled, alpha=-lr)
