"""Adam and AdamW (book section 12.10; AdamW is Loshchilov & Hutter's decoupled decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import ForeachOptimizer, check_range, with_l2
from d2l_lab.optimizers.defaults import BOOK_EPS, BOOK_LR


class Adam(ForeachOptimizer):
    """Adam with coupled L2 weight decay; torch.optim.Adam(lr, betas, eps, weight_decay).

        g <- g + weight_decay * x
        v <- beta1 * v + (1 - beta1) * g        (state "exp_avg", starts at 0)
        s <- beta2 * s + (1 - beta2) * g * g    (state "exp_avg_sq", starts at 0)
        x <- x - lr / (1 - beta1^t) * v / (sqrt(s / (1 - beta2^t)) + eps)    (t: state "step")

    eps sits OUTSIDE the square root, in the book and in torch alike. The first moment is
    updated as torch does, v + (1 - beta1) * (g - v) (one lerp kernel), which equals the line
    above up to rounding. Defaults are the book's: lr 0.01, betas (0.9, 0.999), eps 1e-6
    (torch's default eps is 1e-8).
    """

    buffers = ("exp_avg", "exp_avg_sq")
    decoupled_decay = False

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["adam"],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = BOOK_EPS["adam"],
                 weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("beta1", betas[0], 0.0, 1.0)
        check_range("beta2", betas[1], 0.0, 1.0)
        check_range("eps", eps, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _update(self, group, params, grads, buffers, steps) -> None:
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        if self.decoupled_decay:
            if decay != 0:
                torch._foreach_mul_(params, 1 - lr * decay)
        else:
            grads = with_l2(grads, params, decay)
        exp_avg, exp_avg_sq = buffers["exp_avg"], buffers["exp_avg_sq"]
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        # Bias corrections are per parameter (a parameter may have skipped steps) and are
        # Python floats: the step count is an int, so nothing here waits on the device.
        step_size = [-lr / (1 - beta1**t) for t in steps]
        correction2_sqrt = [(1 - beta2**t) ** 0.5 for t in steps]
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, correction2_sqrt)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, exp_avg, denom, step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay; torch.optim.AdamW(lr, betas, eps, weight_decay).

        x <- x * (1 - lr * weight_decay)        (before the Adam step, on the weights directly)
        then Adam's update with the raw gradient g.

    The decay is not divided by the adaptive denominator, so every weight shrinks at the same
    rate. Not in the book; defaults follow Adam's (lr 0.01, eps 1e-6) and weight_decay 0.01,
    torch's default.
    """

    decoupled_decay = True

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["adamw"],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = BOOK_EPS["adamw"],
                 weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)
