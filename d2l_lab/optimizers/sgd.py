"""Gradient descent and its momentum variants (book sections 12.3-12.6)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_SGD, _MOMENTUM = ALGORITHMS["sgd"].defaults, ALGORITHMS["momentum"].defaults


class SGD(Optimizer):
    """Gradient descent with optional momentum; torch.optim.SGD, same signature and iterates.

        g <- g + weight_decay * x
        x <- x - lr * g                                  (momentum = 0)

    With momentum mu > 0 (the `Momentum` class, which only changes the defaults):

        v <- g on the first step, then v <- mu * v + (1 - dampening) * g   (state "momentum_buffer")
        x <- x - lr * v                                  (heavy ball)
        x <- x - lr * (g + mu * v)                       (nesterov=True)

    Whether this is GD, SGD or minibatch SGD depends only on the batch the loss is computed
    on. The default lr 0.05 is the book's minibatch SGD with batch size 10 (torch's is 1e-3).
    Sparse gradients (nn.Embedding(sparse=True)) are taken as torch takes them: the buffer then
    stays sparse too. Like torch, the state holds no step count and complex parameters are
    updated in complex arithmetic (the update is linear, so that equals the real-pair view).
    """

    buffers = ("momentum_buffer",)
    elementwise = True
    counts_steps = False
    supports_sparse = True
    complex_as_real = False

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _SGD["lr"], momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = _SGD["weight_decay"], nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                         fused=fused)

    def buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.buffers if group["momentum"] else ()

    def init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """torch's buffer starts as the first gradient (not 0), which only dampening tells apart."""
        return {name: None for name in self.buffers_for(group)}

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, mu, dampening, weight_decay = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        if mu:
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = g.detach().clone()
                v = state["momentum_buffer"]
            else:
                v = state["momentum_buffer"].mul_(mu).add_(g, alpha=1 - dampening)
            g = g.add(v, alpha=mu) if group["nesterov"] else v
        param.add_(g, alpha=-lr)


class Momentum(SGD):
    """Heavy-ball momentum, or Nesterov's look-ahead (`nesterov=True`): SGD with the book's defaults.

    The book writes v <- mu * v + lr * g, x <- x - v: the same iterates while lr is constant,
    but torch's form (SGD's docstring) keeps lr out of the buffer, so a learning-rate schedule
    scales only the current step. That is what makes parity with torch hold under schedules.
    Defaults are the book's: lr 0.02, mu 0.5 (effective step lr / (1 - mu)). The signature is
    torch.optim.SGD's, so `Momentum(params, 0.02, 0.5)` sets the momentum.
    """

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _MOMENTUM["lr"],
                 momentum: float = _MOMENTUM["momentum"], dampening: float = 0.0,
                 weight_decay: float = _MOMENTUM["weight_decay"], nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov, maximize=maximize,
                         foreach=foreach, differentiable=differentiable, fused=fused)
