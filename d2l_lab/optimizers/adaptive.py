"""Per-coordinate step sizes from squared-gradient statistics (book sections 12.7-12.9)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import ForeachOptimizer, check_range, with_l2
from d2l_lab.optimizers.defaults import BOOK_EPS, BOOK_LR


class AdaGrad(ForeachOptimizer):
    """AdaGrad; torch.optim.Adagrad(lr, eps, weight_decay) with lr_decay=0.

        g <- g + weight_decay * x
        s <- s + g * g                          (state "sum_sq", starts at 0)
        x <- x - lr * g / (sqrt(s) + eps)

    eps sits OUTSIDE the square root, as in torch, so parity with torch.optim is exact; the
    book writes sqrt(s + eps). Defaults are the book's: lr 0.1, eps 1e-6.
    """

    buffers = ("sum_sq",)

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["adagrad"],
                 eps: float = BOOK_EPS["adagrad"], weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("eps", eps, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "eps": eps, "weight_decay": weight_decay})

    def _update(self, group, params, grads, buffers, steps) -> None:
        grads = with_l2(grads, params, group["weight_decay"])
        sum_sq = buffers["sum_sq"]
        torch._foreach_addcmul_(sum_sq, grads, grads)
        denom = torch._foreach_sqrt(sum_sq)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, grads, denom, value=-group["lr"])


class RMSProp(ForeachOptimizer):
    """RMSProp; torch.optim.RMSprop(lr, alpha=gamma, eps, weight_decay), uncentred, no momentum.

        g <- g + weight_decay * x
        s <- gamma * s + (1 - gamma) * g * g    (state "square_avg", starts at 0)
        x <- x - lr * g / (sqrt(s) + eps)

    The book's gamma is torch's `alpha`. eps sits OUTSIDE the square root, as in torch, so
    parity with torch.optim is exact; the book writes sqrt(s + eps). Defaults are the book's:
    lr 0.01, gamma 0.9, eps 1e-6.
    """

    buffers = ("square_avg",)

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["rmsprop"], gamma: float = 0.9,
                 eps: float = BOOK_EPS["rmsprop"], weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("gamma", gamma, 0.0, 1.0)
        check_range("eps", eps, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "gamma": gamma, "eps": eps, "weight_decay": weight_decay})

    def _update(self, group, params, grads, buffers, steps) -> None:
        gamma = group["gamma"]
        grads = with_l2(grads, params, group["weight_decay"])
        square_avg = buffers["square_avg"]
        torch._foreach_mul_(square_avg, gamma)
        torch._foreach_addcmul_(square_avg, grads, grads, value=1 - gamma)
        denom = torch._foreach_sqrt(square_avg)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, grads, denom, value=-group["lr"])


class AdaDelta(ForeachOptimizer):
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

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["adadelta"], rho: float = 0.9,
                 eps: float = BOOK_EPS["adadelta"], weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("rho", rho, 0.0, 1.0)
        check_range("eps", eps, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    def _update(self, group, params, grads, buffers, steps) -> None:
        rho, eps = group["rho"], group["eps"]
        grads = with_l2(grads, params, group["weight_decay"])
        square_avg, acc_delta = buffers["square_avg"], buffers["acc_delta"]
        torch._foreach_mul_(square_avg, rho)
        torch._foreach_addcmul_(square_avg, grads, grads, value=1 - rho)
        std = torch._foreach_add(square_avg, eps)
        torch._foreach_sqrt_(std)
        delta = torch._foreach_add(acc_delta, eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
        torch._foreach_mul_(acc_delta, rho)
        torch._foreach_addcmul_(acc_delta, delta, delta, value=1 - rho)
        torch._foreach_add_(params, delta, alpha=-group["lr"])
