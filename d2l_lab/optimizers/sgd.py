"""Gradient descent and its momentum variants (book sections 12.3-12.6)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import ForeachOptimizer, check_range, with_l2
from d2l_lab.optimizers.defaults import BOOK_LR


class SGD(ForeachOptimizer):
    """Plain (minibatch) gradient descent, as torch.optim.SGD with momentum=0.

        g <- g + weight_decay * x
        x <- x - lr * g

    Whether this is GD, SGD or minibatch SGD depends only on the batch the loss is computed
    on. The default lr 0.05 is the book's minibatch SGD with batch size 10.
    """

    cache_blocking = False  # one pass over memory: nothing to keep in cache between ops

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["sgd"], weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    def _update(self, group, params, grads, buffers, steps) -> None:
        grads = with_l2(grads, params, group["weight_decay"])
        torch._foreach_add_(params, grads, alpha=-group["lr"])


class Momentum(ForeachOptimizer):
    """Heavy-ball momentum, or Nesterov's look-ahead variant; torch.optim.SGD(momentum=mu).

        g <- g + weight_decay * x
        v <- mu * v + g                      (state "momentum_buffer", starts at 0)
        x <- x - lr * v                      (heavy ball)
        x <- x - lr * (g + mu * v)           (nesterov=True)

    The book writes v <- mu * v + lr * g, x <- x - v: the same iterates while lr is constant,
    but torch's form (implemented here) keeps lr out of the buffer, so a learning-rate
    schedule scales only the current step. That is what makes parity with torch hold under
    schedules. Defaults are the book's: lr 0.02, mu 0.5 (effective step lr / (1 - mu)).
    """

    buffers = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = BOOK_LR["momentum"], momentum: float = 0.5,
                 nesterov: bool = False, weight_decay: float = 0.0):
        check_range("lr", lr, 0.0)
        check_range("momentum", momentum, 0.0, 1.0)
        check_range("weight_decay", weight_decay, 0.0)
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _update(self, group, params, grads, buffers, steps) -> None:
        mu = group["momentum"]
        grads = with_l2(grads, params, group["weight_decay"])
        velocity = buffers["momentum_buffer"]
        torch._foreach_mul_(velocity, mu)
        torch._foreach_add_(velocity, grads)
        step = torch._foreach_add(grads, velocity, alpha=mu) if group["nesterov"] else velocity
        torch._foreach_add_(params, step, alpha=-group["lr"])
