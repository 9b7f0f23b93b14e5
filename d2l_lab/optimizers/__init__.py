"""From-scratch optimizers for d2l.ai chapter 12, their configs, and learning-rate schedules.

Every optimizer in `table.ALGORITHMS` is a drop-in `torch.optim.Optimizer`: where torch has a
twin, ours has its constructor (positional order, names, keyword-only switches; only the book's
default values differ), its param-group keys and state names (state dicts load either way), and
its iterates bit for bit (`tests/test_torch_optim_suite.py` runs PyTorch's own optimizer tests
on each pair). Each docstring gives the equations. `build_optimizer` / `build_scheduler` turn the run config's sections
into objects. The classes are loaded on first use, so importing the configs (as the CLI does for
--help) never imports torch.
"""

from __future__ import annotations

from typing import Any

from d2l_lab.optimizers.config import OptimizerConfig, build_optimizer
from d2l_lab.optimizers.schedules import ScheduleConfig, build_scheduler
from d2l_lab.optimizers.table import ALGORITHMS

# "Adam" -> its table row, which knows where the class lives.
_CLASSES = {spec.class_name: spec for spec in ALGORITHMS.values()}

__all__ = ["ALGORITHMS", "OptimizerConfig", "ScheduleConfig", "build_optimizer", "build_scheduler", *_CLASSES]


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return _CLASSES[name].scratch_class()
    raise AttributeError(f"module 'd2l_lab.optimizers' has no attribute {name!r}")
