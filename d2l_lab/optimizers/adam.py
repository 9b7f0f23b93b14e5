"""Adam and AdamW (book section 12.10; AdamW is Loshchilov & Hutter's decoupled decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer, scalar_dtype
from d2l_lab.optimizers.table import ALGORITHMS

_ADAM, _ADAMW = ALGORITHMS["adam"].defaults, ALGORITHMS["adamw"].defaults


class Adam(Optimizer):
    """Adam; torch.optim.Adam, same signature and iterates.

        g <- g + weight_decay * x               (decoupled_weight_decay: x <- x * (1 - lr * wd))
        v <- beta1 * v + (1 - beta1) * g        (state "exp_avg", starts at 0)
        s <- beta2 * s + (1 - beta2) * g * g    (state "exp_avg_sq", starts at 0)
        s_max <- max(s_max, s)                  (amsgrad=True, state "max_exp_avg_sq"; then s := s_max)
        x <- x - lr / (1 - beta1^t) * v / (sqrt(s) / sqrt(1 - beta2^t) + eps)    (t: state "step")

    eps sits OUTSIDE the square root, in the book and in torch alike. The first moment is
    updated as torch does, v + (1 - beta1) * (g - v) (one lerp), which equals the line above
    up to rounding; the book's v_hat / (sqrt(s_hat) + eps) is written with the two bias
    corrections moved onto lr and sqrt(s), as torch does, so parity is exact. With
    differentiable=True the last line is arranged as torch's differentiable path arranges it
    (the same quantity, divided through by -lr / (1 - beta1^t)), so gradients through the step
    match torch's too. Defaults are the book's: lr 0.01, betas (0.9, 0.999), eps 1e-6 (torch:
    lr 1e-3, eps 1e-8).
    """

    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _ADAM["lr"],
                 betas: tuple[float, float] = (_ADAM["beta1"], _ADAM["beta2"]), eps: float = _ADAM["eps"],
                 weight_decay: float = _ADAM["weight_decay"], amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None, decoupled_weight_decay: bool = False):
        if isinstance(betas[0], torch.Tensor) != isinstance(betas[1], torch.Tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        if foreach and not capturable:
            if isinstance(lr, torch.Tensor):
                raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
            if isinstance(betas[0], torch.Tensor):
                raise ValueError("betas[0] as a Tensor is not supported for capturable=False and foreach=True")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=decoupled_weight_decay)

    def buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.buffers if group["amsgrad"] else self.buffers[:2]

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        t = state["step"]
        _, v, s = moments(param, grad, state, group)  # the docstring's first three lines
        if group["amsgrad"]:
            s_max = state["max_exp_avg_sq"]
            s = s_max.copy_(torch.maximum(s_max.clone() if torch.is_grad_enabled() else s_max, s))
        if group["differentiable"]:  # torch's arrangement, with t as a tensor of its scalar dtype
            t = torch.tensor(float(t), dtype=scalar_dtype())
            step_size_neg = (lr / (1 - beta1**t)).neg()
            denom = (s.sqrt() / ((1 - beta2**t).sqrt() * step_size_neg)).add_(eps / step_size_neg)
            param.addcdiv_(v.clone(), denom)
            return
        denom = s.sqrt().div_((1 - beta2**t) ** 0.5).add_(eps)
        param.addcdiv_(v, denom, value=-lr / (1 - beta1**t))


def moments(param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
            group: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam's first three lines, which its variants share (torch's NAdam and RAdam too): weight
    decay on the gradient or, decoupled, on the weights; then v and s in place. Returns (g, v, s)."""
    lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
    g = grad
    if weight_decay and group["decoupled_weight_decay"]:
        param.mul_(1 - lr * weight_decay)
    elif weight_decay:
        g = grad.add(param, alpha=weight_decay)
    v = state["exp_avg"].lerp_(g, 1 - beta1)
    s = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
    return g, v, s


class AdamW(Adam):
    """Adam with decoupled weight decay; torch.optim.AdamW, same signature and iterates.

        x <- x * (1 - lr * weight_decay)        (before the Adam step, on the weights directly)
        then Adam's update with the raw gradient g.

    The decay is not divided by the adaptive denominator, so every weight shrinks at the same
    rate. Not in the book; defaults follow Adam's (lr 0.01, eps 1e-6) and weight_decay 0.01,
    torch's default.
    """

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _ADAMW["lr"],
                 betas: tuple[float, float] = (_ADAMW["beta1"], _ADAMW["beta2"]), eps: float = _ADAMW["eps"],
                 weight_decay: float = _ADAMW["weight_decay"], amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
