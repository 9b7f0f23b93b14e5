"""RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"): Adam
that takes momentum steps until its second moment has seen enough gradients to be trusted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.adam import moments
from d2l_lab.optimizers.base import Optimizer, scratch
from d2l_lab.optimizers.table import ALGORITHMS

_RADAM = ALGORITHMS["radam"].defaults


class RAdam(Optimizer):
    """RAdam; torch.optim.RAdam, same signature and iterates.

        g <- g + weight_decay * x               (decoupled_weight_decay: x <- x * (1 - lr * wd))
        v <- beta1 * v + (1 - beta1) * g        (state "exp_avg", starts at 0)
        s <- beta2 * s + (1 - beta2) * g * g    (state "exp_avg_sq", starts at 0)
        v_hat = v / (1 - beta1^t)               (t: state "step")
        rho_inf = 2 / (1 - beta2) - 1,  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        x <- x - lr * v_hat                                                         (rho_t <= 5)
        x <- x - lr * v_hat * sqrt(1 - beta2^t) / (sqrt(s) + eps) * r_t             (rho_t > 5)
        r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))

    rho_t is the length of the moving average that s approximates after t steps; while it is 5
    or less the variance of the adaptive step is too large to use (with beta2 0.999 the first 5
    steps), so the step is plain momentum, then Adam's, scaled by r_t < 1, which rises toward 1
    as t grows: a warm-up that needs no schedule. eps sits OUTSIDE the square root and is added
    to sqrt(s) BEFORE the bias correction, where Adam adds it after: on Adam's scale it is eps /
    sqrt(1 - beta2^t). The first moment is a lerp as in torch, and the lines are computed in
    torch's order (r_t last), so parity is exact. Not in the book; defaults follow its Adam (lr
    0.01, betas (0.9, 0.999), eps 1e-6; torch: lr 1e-3, eps 1e-8).
    """

    buffers = ("exp_avg", "exp_avg_sq")
    elementwise = True
    decay_before_real_view = False

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _RADAM["lr"],
                 betas: tuple[float, float] = (_RADAM["beta1"], _RADAM["beta2"]), eps: float = _RADAM["eps"],
                 weight_decay: float = _RADAM["weight_decay"], decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        t = state["step"]
        _, v, s = moments(param, grad, state, group)  # decay, v and s: Adam's lines
        v_hat = v / (1 - beta1**t)
        bias_correction2 = 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bias_correction2
        if rho_t <= 5.0:
            param.add_(v_hat * lr, alpha=-1.0)
            return
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive_lr = bias_correction2**0.5 / scratch(s.sqrt()).add_(eps)
        param.add_(v_hat * lr * adaptive_lr * rect, alpha=-1.0)
