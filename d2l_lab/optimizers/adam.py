"""Adam and AdamW (book section 12.10; AdamW is Loshchilov & Hutter's decoupled decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_ADAM, _ADAMW = ALGORITHMS["adam"].defaults, ALGORITHMS["adamw"].defaults


class Adam(Optimizer):
    """Adam with coupled L2 weight decay; torch.optim.Adam(lr, betas, eps, weight_decay).

        g <- g + weight_decay * x
        v <- beta1 * v + (1 - beta1) * g        (state "exp_avg", starts at 0)
        s <- beta2 * s + (1 - beta2) * g * g    (state "exp_avg_sq", starts at 0)
        x <- x - lr / (1 - beta1^t) * v / (sqrt(s) / sqrt(1 - beta2^t) + eps)    (t: state "step")

    eps sits OUTSIDE the square root, in the book and in torch alike. The first moment is
    updated as torch does, v + (1 - beta1) * (g - v) (one lerp), which equals the line above
    up to rounding; the book's v_hat / (sqrt(s_hat) + eps) is written with the two bias
    corrections moved onto lr and sqrt(s), as torch does, so parity is exact. Defaults are the
    book's: lr 0.01, betas (0.9, 0.999), eps 1e-6 (torch's default eps is 1e-8).
    """

    buffers = ("exp_avg", "exp_avg_sq")
    elementwise = True
    decoupled_decay = False

    def __init__(self, params: Iterable[Any], lr: float = _ADAM["lr"],
                 betas: tuple[float, float] = (_ADAM["beta1"], _ADAM["beta2"]), eps: float = _ADAM["eps"],
                 weight_decay: float = _ADAM["weight_decay"]):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        t = state["step"]
        g = grad
        if weight_decay and self.decoupled_decay:
            param.mul_(1 - lr * weight_decay)
        elif weight_decay:
            g = grad.add(param, alpha=weight_decay)
        v = state["exp_avg"].lerp_(g, 1 - beta1)
        s = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = s.sqrt().div_((1 - beta2**t) ** 0.5).add_(eps)
        param.addcdiv_(v, denom, value=-lr / (1 - beta1**t))


class AdamW(Adam):
    """Adam with decoupled weight decay; torch.optim.AdamW(lr, betas, eps, weight_decay).

        x <- x * (1 - lr * weight_decay)        (before the Adam step, on the weights directly)
        then Adam's update with the raw gradient g.

    The decay is not divided by the adaptive denominator, so every weight shrinks at the same
    rate. Not in the book; defaults follow Adam's (lr 0.01, eps 1e-6) and weight_decay 0.01,
    torch's default.
    """

    decoupled_decay = True

    def __init__(self, params: Iterable[Any], lr: float = _ADAMW["lr"],
                 betas: tuple[float, float] = (_ADAMW["beta1"], _ADAMW["beta2"]), eps: float = _ADAMW["eps"],
                 weight_decay: float = _ADAMW["weight_decay"]):
        super().__init__(params, lr, betas, eps, weight_decay)
