"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an
interpolated momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.base import Optimizer
from d2l_lab.optimizers.table import ALGORITHMS

_LION = ALGORITHMS["lion"].defaults


class Lion(Optimizer):
    """Lion, as the paper's Algorithm 2; no torch.optim twin.

        c <- beta1 * m + (1 - beta1) * g                 (m: state "exp_avg", starts at 0)
        x <- x - lr * (sign(c) + weight_decay * x)
        m <- beta2 * m + (1 - beta2) * g

    Every coordinate moves by exactly lr (plus the decay) whatever the gradient's scale, so Lion
    wants an lr several times smaller than Adam's; the update direction interpolates with beta1
    but the memory decays with beta2 (> beta1), so the momentum is longer than the step uses.
    Weight decay is decoupled, as in AdamW. Defaults: betas (0.9, 0.99) and weight_decay 0 (the
    paper's); lr 0.01, chosen on the airfoil preset, where a sign step needs that size to
    reach the minimum within two epochs (the paper's deep-net runs use 1e-4 to 3e-4).
    """

    buffers = ("exp_avg",)
    elementwise = True
    decay_on_gradient = False

    def __init__(self, params: Iterable[Any], lr: float = _LION["lr"],
                 betas: tuple[float, float] = (_LION["beta1"], _LION["beta2"]),
                 weight_decay: float = _LION["weight_decay"], *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False):
        super().__init__(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, maximize=maximize,
                         foreach=foreach, differentiable=differentiable)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        m = state["exp_avg"]
        c = beta1 * m + (1 - beta1) * grad
        param.sub_(lr * (torch.sign(c) + weight_decay * param))
        m.mul_(beta2).add_((1 - beta2) * grad)
