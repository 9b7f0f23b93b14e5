"""Yogi (book section 12.10.3; Zaheer et al. 2018): Adam with a bounded second-moment update."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_YOGI = ALGORITHMS["yogi"].defaults


class Yogi(Optimizer):
    """Yogi, as the book writes it; no torch.optim twin.

        g <- g + weight_decay * x
        v <- beta1 * v + (1 - beta1) * g                           (state "exp_avg", starts at 0)
        s <- s + (1 - beta2) * sign(g * g - s) * g * g             (state "exp_avg_sq", starts at 0)
        v_hat <- v / (1 - beta1^t),  s_hat <- s / (1 - beta2^t)    (t: state "step")
        x <- x - lr * v_hat / (sqrt(s_hat) + eps)

    Adam's s moves toward g*g by (1 - beta2) * (g*g - s), a step that is large when s is
    large; Yogi's moves by (1 - beta2) * g*g in the same direction, so a burst of big gradients
    cannot swamp it. eps sits OUTSIDE the square root, as in the book. The lines are computed
    in the book's order (bias corrections on v and s), so the iterates equal a plain transcription
    of the book's code. Defaults are the book's: lr 0.01, betas (0.9, 0.999), eps 1e-3.
    """

    buffers = ("exp_avg", "exp_avg_sq")
    elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = _YOGI["lr"],
                 betas: tuple[float, float] = (_YOGI["beta1"], _YOGI["beta2"]), eps: float = _YOGI["eps"],
                 weight_decay: float = _YOGI["weight_decay"], *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                         foreach=foreach, differentiable=differentiable)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        t = state["step"]
        g = grad.add(param, alpha=weight_decay) if weight_decay else grad
        v, s = state["exp_avg"], state["exp_avg_sq"]
        g2 = g * g
        v.mul_(beta1).add_((1 - beta1) * g)
        s.add_((1 - beta2) * torch.sign(g2 - s) * g2)
        v_hat = v / (1 - beta1**t)
        s_hat = s / (1 - beta2**t)
        param.sub_(lr * v_hat / (torch.sqrt(s_hat) + eps))
