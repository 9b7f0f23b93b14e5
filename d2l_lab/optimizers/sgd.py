"""Gradient descent and its momentum variants (book sections 12.3-12.6)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_SGD, _MOMENTUM = ALGORITHMS["sgd"].defaults, ALGORITHMS["momentum"].defaults


class SGD(Optimizer):
    """Plain (minibatch) gradient descent, as torch.optim.SGD with momentum=0.

        g <- g + weight_decay * x
        x <- x - lr * g

    Whether this is GD, SGD or minibatch SGD depends only on the batch the loss is computed
    on. The default lr 0.05 is the book's minibatch SGD with batch size 10.
    """

    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _SGD["lr"], weight_decay: float = _SGD["weight_decay"]):
        super().__init__(params, lr=lr, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, weight_decay = group["lr"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        param.add_(g, alpha=-lr)


class Momentum(Optimizer):
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
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _MOMENTUM["lr"], momentum: float = _MOMENTUM["momentum"],
                 nesterov: bool = False, weight_decay: float = _MOMENTUM["weight_decay"]):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, mu, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        v = state["momentum_buffer"].mul_(mu).add_(g)
        if group["nesterov"]:
            param.add_(g.add(v, alpha=mu), alpha=-lr)
        else:
            param.add_(v, alpha=-lr)
