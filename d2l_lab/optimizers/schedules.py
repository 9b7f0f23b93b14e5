"""Learning-rate schedules as pure multipliers of the step count.

Every schedule is a `LambdaLR` over `lr_multiplier`, so our optimizers and torch.optim's see
identical learning rates, and a resumed run continues the schedule from the step count saved in
the scheduler's state_dict. Torch is imported inside `build_scheduler` only (see config.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from d2l_lab.config.schema import STATED_DEFAULT, fill_defaults, param, refuse_unused

if TYPE_CHECKING:
    import torch

# Each schedule's settings and their defaults (the keys are what it uses).
SCHEDULES: dict[str, dict[str, float]] = {
    "constant": {},
    "exponential": {"factor": 0.99},
    "step": {"factor": 0.99, "step_size": 100},
    "cosine": {"min_lr_ratio": 0.0},
}


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = param("constant", "constant is what the book's chapter 12 experiments use; the others "
                      "follow its schedule section (12.11)", choices=tuple(SCHEDULES))
    factor: float | None = param(None, "lr multiplier per step (exponential) or per step_size steps (step); "
                                 "default 0.99, which halves the lr in about 70 applications", gt=0, le=1,
                                 null=STATED_DEFAULT)
    step_size: int | None = param(None, "steps between decays of the step schedule; default 100, about "
                                  "two-thirds of an airfoil epoch at batch 10", ge=1, null=STATED_DEFAULT)
    min_lr_ratio: float | None = param(None, "cosine's final lr as a fraction of the initial one; default 0, "
                                       "which anneals all the way down, as SGDR does", ge=0, le=1,
                                       null=STATED_DEFAULT)

    def unused_fields(self) -> tuple[str, ...]:
        return tuple(name for name in ("factor", "step_size", "min_lr_ratio") if name not in SCHEDULES[self.name])

    def check(self) -> None:
        refuse_unused(self, "schedule", self.unused_fields(), f"schedule '{self.name}'", tuple(SCHEDULES[self.name]))

    def resolved(self) -> ScheduleConfig:
        """A copy with the settings this schedule uses filled from their defaults where left null."""
        return fill_defaults(self, SCHEDULES[self.name])


def lr_multiplier(cfg: ScheduleConfig, step: int, total_steps: int) -> float:
    """The factor on the initial lr after `step` optimizer steps; a pure function of its inputs."""
    cfg = cfg.resolved()
    if cfg.name == "exponential":
        return cfg.factor**step
    if cfg.name == "step":
        return cfg.factor ** (step // cfg.step_size)
    if cfg.name == "cosine":
        progress = min(step, total_steps) / total_steps
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * (1 + math.cos(math.pi * progress)) / 2
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig,
                    total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A LambdaLR applying `lr_multiplier`; cosine reaches its floor at `total_steps`."""
    from torch.optim.lr_scheduler import LambdaLR

    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    cfg = cfg.resolved()  # once here, so each step's lr_multiplier finds nothing left to fill
    return LambdaLR(optimizer, lambda step: lr_multiplier(cfg, step, total_steps))
