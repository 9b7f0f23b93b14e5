"""Per-coordinate step sizes from squared-gradient statistics (book sections 12.7-12.9)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_ADAGRAD, _RMSPROP, _ADADELTA = (ALGORITHMS[name].defaults for name in ("adagrad", "rmsprop", "adadelta"))


class AdaGrad(Optimizer):
    """AdaGrad; torch.optim.Adagrad(lr, eps, weight_decay) with lr_decay=0.

        g <- g + weight_decay * x
        s <- s + g * g                          (state "sum_sq", starts at 0)
        x <- x - lr * g / (sqrt(s) + eps)

    eps sits OUTSIDE the square root, as in torch, so parity with torch.optim is exact; the
    book writes sqrt(s + eps). Defaults are the book's: lr 0.1, eps 1e-6.
    """

    buffers = ("sum_sq",)
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _ADAGRAD["lr"], eps: float = _ADAGRAD["eps"],
                 weight_decay: float = _ADAGRAD["weight_decay"]):
        super().__init__(params, lr=lr, eps=eps, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        s = state["sum_sq"].addcmul_(g, g)
        param.addcdiv_(g, s.sqrt().add_(eps), value=-lr)


class RMSProp(Optimizer):
    """RMSProp; torch.optim.RMSprop(lr, alpha=gamma, eps, weight_decay), uncentred, no momentum.

        g <- g + weight_decay * x
        s <- gamma * s + (1 - gamma) * g * g    (state "square_avg", starts at 0)
        x <- x - lr * g / (sqrt(s) + eps)

    The book's gamma is torch's `alpha`. eps sits OUTSIDE the square root, as in torch, so
    parity with torch.optim is exact; the book writes sqrt(s + eps). Defaults are the book's:
    lr 0.01, gamma 0.9, eps 1e-6.
    """

    buffers = ("square_avg",)
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _RMSPROP["lr"], gamma: float = _RMSPROP["gamma"],
                 eps: float = _RMSPROP["eps"], weight_decay: float = _RMSPROP["weight_decay"]):
        super().__init__(params, lr=lr, gamma=gamma, eps=eps, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, gamma, eps, weight_decay = group["lr"], group["gamma"], group["eps"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        s = state["square_avg"].mul_(gamma).addcmul_(g, g, value=1 - gamma)
        param.addcdiv_(g, s.sqrt().add_(eps), value=-lr)


class AdaDelta(Optimizer):
    """AdaDelta; torch.optim.Adadelta(lr, rho, eps, weight_decay).

        g  <- g + weight_decay * x
        s  <- rho * s + (1 - rho) * g * g                   (state "square_avg", starts at 0)
        g' <- sqrt(delta + eps) / sqrt(s + eps) * g          (delta: state "acc_delta", starts at 0)
        delta <- rho * delta + (1 - rho) * g' * g'
        x  <- x - lr * g'

    eps sits INSIDE both square roots, in the book and in torch alike (it also seeds the very
    first step, when delta is 0). The book has no learning rate; torch's lr multiplies the
    step, and lr 1.0 (the default) is the book's algorithm. Defaults: rho 0.9, eps 1e-5 (book).
    """

    buffers = ("square_avg", "acc_delta")
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _ADADELTA["lr"], rho: float = _ADADELTA["rho"],
                 eps: float = _ADADELTA["eps"], weight_decay: float = _ADADELTA["weight_decay"]):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        s = state["square_avg"].mul_(rho).addcmul_(g, g, value=1 - rho)
        delta = state["acc_delta"]
        g_rescaled = delta.add(eps).sqrt_().div_(s.add(eps).sqrt_()).mul_(g)
        delta.mul_(rho).addcmul_(g_rescaled, g_rescaled, value=1 - rho)
        param.add_(g_rescaled, alpha=-lr)
