"""The optimizer section of a run config, and the one place that turns it into an optimizer.

Torch is imported inside the builder functions only, so the CLI can describe and validate configs
(`d2l --help`, bad flags) without paying for `import torch`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param
from d2l_lab.errors import UserError
from d2l_lab.optimizers.defaults import BOOK_EPS, BOOK_LR

if TYPE_CHECKING:
    import torch

ALGORITHMS: tuple[str, ...] = tuple(BOOK_LR)
IMPLEMENTATIONS: tuple[str, ...] = ("scratch", "torch")


@dataclass(frozen=True)
class OptimizerConfig:
    algo: str = param("sgd", "the update rule; sgd is the book's baseline (12.4-12.5)", choices=ALGORITHMS)
    impl: str = param("scratch", "scratch runs this project's from-scratch optimizers; torch runs "
                      "torch.optim with the same hyperparameters, to check they agree", choices=IMPLEMENTATIONS)
    lr: float | None = param(None, "learning rate; null picks the book's for the algorithm (sgd 0.05, "
                             "momentum 0.02, adagrad 0.1, rmsprop 0.01, adadelta 1.0, adam 0.01)", gt=0)
    momentum: float = param(0.5, "heavy-ball / nesterov momentum; the book's 0.5 makes the effective "
                            "step lr / (1 - 0.5) = 2 lr", ge=0, lt=1)
    gamma: float = param(0.9, "RMSProp's squared-gradient decay (torch's alpha); the book's 0.9 averages "
                         "over about 10 steps", ge=0, lt=1)
    rho: float = param(0.9, "AdaDelta's decay for both running averages; the book's 0.9", ge=0, lt=1)
    beta1: float = param(0.9, "Adam's first-moment decay; 0.9 is the book's and the paper's", ge=0, lt=1)
    beta2: float = param(0.999, "Adam's second-moment decay; 0.999 (the book's) averages over about "
                         "1000 steps so rare large gradients are not forgotten", ge=0, lt=1)
    eps: float | None = param(None, "added to the adaptive denominator to avoid division by zero; null "
                              "picks the book's (1e-6; AdaDelta 1e-5)", gt=0)
    weight_decay: float = param(0.0, "L2 penalty added to the gradient (decoupled, on the weights, for "
                                "adamw); 0 because the book's experiments use none", ge=0)

    def check(self) -> None:
        if self.algo == "nesterov" and self.momentum == 0:
            raise UserError("config key 'optimizer.momentum' must be > 0 for algo 'nesterov': "
                            "with no momentum use algo 'sgd'")

    def resolved(self) -> OptimizerConfig:
        """A copy with lr and eps filled from the book's defaults where they were left null."""
        lr = BOOK_LR[self.algo] if self.lr is None else self.lr
        eps = BOOK_EPS.get(self.algo) if self.eps is None else self.eps
        return dataclasses.replace(self, lr=lr, eps=eps)


def build_optimizer(params: Iterable[Any], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """Our optimizer (impl scratch) or torch.optim's equivalent (impl torch), from the resolved config."""
    c = cfg.resolved()
    return torch_optimizer(params, c) if c.impl == "torch" else _scratch_optimizer(params, c)


def torch_optimizer(params: Iterable[Any], cfg: OptimizerConfig, **options: Any) -> torch.optim.Optimizer:
    """torch.optim's counterpart of `cfg` with the hyperparameters mapped (gamma -> alpha, ...).

    `options` passes torch-only switches such as `foreach=True` or `fused=True` (the benchmark).
    """
    import torch

    c, o = cfg.resolved(), torch.optim
    common = {"lr": c.lr, "weight_decay": c.weight_decay, **options}
    builders = {
        "sgd": lambda: o.SGD(params, **common),
        "momentum": lambda: o.SGD(params, momentum=c.momentum, **common),
        "nesterov": lambda: o.SGD(params, momentum=c.momentum, nesterov=True, **common),
        "adagrad": lambda: o.Adagrad(params, eps=c.eps, **common),
        "rmsprop": lambda: o.RMSprop(params, alpha=c.gamma, eps=c.eps, **common),
        "adadelta": lambda: o.Adadelta(params, rho=c.rho, eps=c.eps, **common),
        "adam": lambda: o.Adam(params, betas=(c.beta1, c.beta2), eps=c.eps, **common),
        "adamw": lambda: o.AdamW(params, betas=(c.beta1, c.beta2), eps=c.eps, **common),
    }
    return builders[c.algo]()


def _scratch_optimizer(params: Iterable[Any], c: OptimizerConfig) -> torch.optim.Optimizer:
    from d2l_lab.optimizers import adam, adaptive, sgd

    common = {"lr": c.lr, "weight_decay": c.weight_decay}
    builders = {
        "sgd": lambda: sgd.SGD(params, **common),
        "momentum": lambda: sgd.Momentum(params, momentum=c.momentum, **common),
        "nesterov": lambda: sgd.Momentum(params, momentum=c.momentum, nesterov=True, **common),
        "adagrad": lambda: adaptive.AdaGrad(params, eps=c.eps, **common),
        "rmsprop": lambda: adaptive.RMSProp(params, gamma=c.gamma, eps=c.eps, **common),
        "adadelta": lambda: adaptive.AdaDelta(params, rho=c.rho, eps=c.eps, **common),
        "adam": lambda: adam.Adam(params, betas=(c.beta1, c.beta2), eps=c.eps, **common),
        "adamw": lambda: adam.AdamW(params, betas=(c.beta1, c.beta2), eps=c.eps, **common),
    }
    return builders[c.algo]()
