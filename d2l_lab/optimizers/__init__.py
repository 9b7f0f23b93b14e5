"""From-scratch optimizers for d2l.ai chapter 12, their configs, and learning-rate schedules.

`SGD`, `Momentum`, `AdaGrad`, `RMSProp`, `AdaDelta`, `Adam` and `AdamW` are drop-in
`torch.optim.Optimizer`s whose iterates match torch.optim's (see each docstring for the
equations and the hyperparameter mapping). `build_optimizer` / `build_scheduler` turn the
run config's sections into objects. The classes are loaded on first use, so importing the
configs (as the CLI does for --help) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from d2l_lab.optimizers.config import ALGORITHMS, OptimizerConfig, build_optimizer
from d2l_lab.optimizers.schedules import ScheduleConfig, build_scheduler

_CLASSES = {
    "SGD": "sgd", "Momentum": "sgd",
    "AdaGrad": "adaptive", "RMSProp": "adaptive", "AdaDelta": "adaptive",
    "Adam": "adam", "AdamW": "adam",
}

__all__ = ["ALGORITHMS", "OptimizerConfig", "ScheduleConfig", "build_optimizer", "build_scheduler", *_CLASSES]


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return getattr(importlib.import_module(f"d2l_lab.optimizers.{_CLASSES[name]}"), name)
    raise AttributeError(f"module 'd2l_lab.optimizers' has no attribute {name!r}")
