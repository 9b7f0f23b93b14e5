"""The optimizer section of a run config, and the one place that turns it into an optimizer.

Every hyper-parameter field defaults to None, "the algorithm's own value": `resolved()` fills the
ones the chosen algorithm uses from `table.ALGORITHMS`, `unused_fields()` names the others so a
saved config omits them (`schema.to_dict`), and `check()` refuses one that was given anyway.
Torch is imported inside the builder functions only, so the CLI can describe and validate configs
(`d2l --help`, bad flags) without paying for `import torch`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param, refuse_unused
from d2l_lab.errors import UserError
from d2l_lab.optimizers.table import ALGORITHMS, HYPERPARAMETERS, AlgorithmSpec

if TYPE_CHECKING:
    import torch

IMPLEMENTATIONS: tuple[str, ...] = ("scratch", "torch")


def _hyper_help(name: str, meaning: str) -> str:
    """`meaning`, then which algorithms use the field and their defaults, read from the table:
    the most common default first, then the algorithms that differ from it."""
    defaults = {algo: spec.defaults[name] for algo, spec in ALGORITHMS.items() if name in spec.defaults}
    if not defaults:
        return f"{meaning}; used by no algorithm"
    values = list(defaults.values())
    common = max(values, key=values.count)
    others = ", ".join(f"{algo} {value:g}" for algo, value in defaults.items() if value != common)
    users = "" if len(defaults) == len(ALGORITHMS) else f"; used by {', '.join(defaults)}"
    if not others:
        return f"{meaning}{users}; default {common:g}"
    return f"{meaning}{users}; default per algorithm: {others}, others {common:g}"


def _hyper(name: str, meaning: str, **bounds: float) -> Any:
    """A hyper-parameter field: None (null) stands for the chosen algorithm's default."""
    return param(None, _hyper_help(name, meaning), null="the algorithm's default stated above", **bounds)


@dataclass(frozen=True)
class OptimizerConfig:
    algo: str = param("sgd", "the update rule: " + ", ".join(f"{s.name} ({s.summary})" for s in ALGORITHMS.values()),
                      choices=tuple(ALGORITHMS))
    impl: str = param("scratch", "scratch runs this project's from-scratch optimizers; torch runs "
                      "torch.optim with the same hyperparameters, to check they agree (" +
                      ", ".join(name for name, s in ALGORITHMS.items() if s.torch_class is None) +
                      " have no torch twin)", choices=IMPLEMENTATIONS)
    lr: float | None = _hyper("lr", "learning rate", gt=0)
    momentum: float | None = _hyper("momentum", "heavy-ball / Nesterov momentum; the effective step is "
                                    "lr / (1 - momentum)", ge=0, lt=1)
    gamma: float | None = _hyper("gamma", "RMSProp's squared-gradient decay (torch's alpha); it averages over "
                                 "about 1 / (1 - gamma) steps", ge=0, lt=1)
    rho: float | None = _hyper("rho", "AdaDelta's decay for both running averages", ge=0, lt=1)
    beta1: float | None = _hyper("beta1", "first-moment (momentum) decay", ge=0, lt=1)
    beta2: float | None = _hyper("beta2", "second-moment decay (Lion: the momentum's memory)", ge=0, lt=1)
    momentum_decay: float | None = _hyper("momentum_decay", "NAdam's momentum warm-up: step t uses "
                                          "beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))", ge=0)
    eps: float | None = _hyper("eps", "added to the adaptive denominator to avoid division by zero (each "
                               "docstring says where)", gt=0)
    weight_decay: float | None = _hyper("weight_decay", "L2 penalty added to the gradient (decoupled, on the "
                                        "weights, for adamw and lion)", ge=0)

    @property
    def spec(self) -> AlgorithmSpec:
        return ALGORITHMS[self.algo]

    def unused_fields(self) -> tuple[str, ...]:
        """The hyper-parameters `algo` never reads: absent from the saved config."""
        return tuple(name for name in HYPERPARAMETERS if name not in self.spec.defaults)

    def hyperparameters(self) -> dict[str, float]:
        """The values `algo` uses, defaults filled in: {'lr': 0.01, 'beta1': 0.9, ...}."""
        return {name: default if getattr(self, name) is None else getattr(self, name)
                for name, default in self.spec.defaults.items()}

    def max_stable_lr(self, lambda_max: float) -> float | None:
        """The largest lr that does not diverge on a quadratic whose top curvature is lambda_max,
        where theory gives one (not for adaptive methods, which rescale each coordinate)."""
        rule = self.spec.max_stable_lr
        return None if rule is None else rule(self.hyperparameters(), lambda_max)

    def check(self) -> None:
        refuse_unused(self, "optimizer", self.unused_fields(), f"algo '{self.algo}'", self.spec.uses)
        if self.impl == "torch" and self.spec.torch_class is None:
            raise UserError(f"algo '{self.algo}' has no torch.optim twin: use --impl scratch")
        if self.algo == "nesterov" and self.momentum == 0:
            raise UserError("config key 'optimizer.momentum' must be > 0 for algo 'nesterov': "
                            "with no momentum use algo 'sgd'")

    def resolved(self) -> OptimizerConfig:
        """A copy with every hyper-parameter `algo` uses filled from the table where left null."""
        return dataclasses.replace(self, **self.hyperparameters())


def build_optimizer(params: Iterable[Any], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """Our optimizer (impl scratch) or torch.optim's twin (impl torch), from the resolved config."""
    if cfg.impl == "torch":
        return torch_optimizer(params, cfg)
    kwargs = _constructor_kwargs(cfg.hyperparameters(), cfg.spec.torch_names)
    return cfg.spec.scratch_class()(params, **kwargs, **cfg.spec.options)


def torch_optimizer(params: Iterable[Any], cfg: OptimizerConfig, **options: Any) -> torch.optim.Optimizer:
    """torch.optim's twin of `cfg` with the hyper-parameters renamed (gamma -> alpha, ...).

    `options` passes torch-only switches such as `foreach=True` or `fused=True` (the benchmark).
    """
    import torch

    spec = cfg.spec
    if spec.torch_class is None:
        raise UserError(f"algo '{cfg.algo}' has no torch.optim twin: use --impl scratch")
    torch_class = getattr(torch.optim, spec.torch_class)
    kwargs = _constructor_kwargs(cfg.hyperparameters(), spec.torch_names)
    return torch_class(params, **kwargs, **spec.options, **options)


def _constructor_kwargs(hyper: Mapping[str, float], renamed: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments in torch.optim's convention: beta1, beta2 travel as `betas`."""
    kwargs: dict[str, Any] = {renamed.get(name, name): value for name, value in hyper.items()
                              if name not in ("beta1", "beta2")}
    if "beta1" in hyper:
        kwargs["betas"] = (hyper["beta1"], hyper["beta2"])
    return kwargs
