"""NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"): Adam with a look-ahead
momentum step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from d2l_lab.optimizers.adam import moments
from d2l_lab.optimizers.base import Optimizer, scalar_dtype, scratch
from d2l_lab.optimizers.table import ALGORITHMS

_NADAM = ALGORITHMS["nadam"].defaults


class NAdam(Optimizer):
    """NAdam; torch.optim.NAdam, same signature and iterates.

        g <- g + weight_decay * x               (decoupled_weight_decay: x <- x * (1 - lr * wd))
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))     (t: state "step")
        P <- P * mu_t                           (state "mu_product", starts at 1: mu_1 * ... * mu_t)
        v <- beta1 * v + (1 - beta1) * g        (state "exp_avg", starts at 0)
        s <- beta2 * s + (1 - beta2) * g * g    (state "exp_avg_sq", starts at 0)
        d = sqrt(s / (1 - beta2^t)) + eps
        x <- x - lr * (1 - mu_t) / (1 - P) * g / d - lr * mu_{t+1} / (1 - P * mu_{t+1}) * v / d

    The last line is Nesterov's look-ahead: the gradient's share of the step is bias-corrected with
    the product of the momenta so far, the momentum's with the next one's too. mu_t warms up from
    beta1 / 2 toward beta1, slowly: with beta1 0.9 and momentum_decay 0.004 it is 0.47 after 300
    steps and 0.675 after 4,250. P is a per-step scalar, kept as torch keeps it (a 0-dim tensor of
    torch's scalar dtype) and advanced once per step by `begin_step`, so slicing never moves it
    twice. eps sits OUTSIDE the square root, added to the bias-corrected sqrt(s) as in Adam; v is
    updated with a lerp as torch does. With differentiable=True the coefficients are computed as
    torch's differentiable path does, in tensors of P's dtype. Not in the book; defaults follow its
    Adam (lr 0.01, betas (0.9, 0.999), eps 1e-6; torch: lr 2e-3, eps 1e-8) and momentum_decay 0.004,
    the paper's and torch's.
    """

    buffers = ("exp_avg", "exp_avg_sq")
    scalars = ("mu_product",)
    elementwise = True
    decay_before_real_view = False

    def __init__(self, params: Iterable[Any], lr: float | torch.Tensor = _NADAM["lr"],
                 betas: tuple[float, float] = (_NADAM["beta1"], _NADAM["beta2"]), eps: float = _NADAM["eps"],
                 weight_decay: float = _NADAM["weight_decay"], momentum_decay: float = _NADAM["momentum_decay"],
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable)

    def init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {**super().init_state(param, group), "mu_product": torch.ones((), dtype=scalar_dtype())}

    def begin_step(self, state: dict[str, Any], group: dict[str, Any]) -> None:
        super().begin_step(state, group)
        state["mu_product"].mul_(momentum_at(state["step"], group))

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, beta2, eps = group["lr"], group["betas"][1], group["eps"]
        t = state["step"]
        g, v, s = moments(param, grad, state, group)  # decay, v and s: Adam's lines
        mu, mu_next = momentum_at(t, group), momentum_at(t + 1, group)
        d = scratch(s.div(1 - beta2**t).sqrt()).add_(eps)
        if group["differentiable"]:  # torch's arrangement: coefficients as tensors, in P's dtype
            product = state["mu_product"]
            param.addcdiv_(g * (-lr * (1.0 - mu) / (1.0 - product)), d)
            param.addcdiv_(v * (-lr * mu_next / (1.0 - product * mu_next)), d)
            return
        product = state["mu_product"].item()
        param.addcdiv_(g, d, value=-lr * (1.0 - mu) / (1.0 - product))
        param.addcdiv_(v, d, value=-lr * mu_next / (1.0 - product * mu_next))


def momentum_at(t: int, group: dict[str, Any]) -> float:
    """mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)): the momentum of step t."""
    return group["betas"][0] * (1.0 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
