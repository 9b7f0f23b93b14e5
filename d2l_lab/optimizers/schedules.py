"""Learning-rate schedules as pure multipliers of the step count.

Every schedule is a `LambdaLR` over `lr_multiplier`, so our optimizers and torch.optim's see
identical learning rates, and a resumed run continues the schedule from the step count saved in
the scheduler's state_dict. Torch is imported inside `build_scheduler` only (see config.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from d2l_lab.config.schema import param

if TYPE_CHECKING:
    import torch

SCHEDULES: tuple[str, ...] = ("constant", "exponential", "step", "cosine")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = param("constant", "constant is what the book's chapter 12 experiments use; the others "
                      "follow its schedule section (12.11)", choices=SCHEDULES)
    factor: float = param(0.99, "lr multiplier per step (exponential) or per step_size steps (step); "
                          "0.99 halves the lr in about 70 applications", gt=0, le=1)
    step_size: int = param(100, "steps between decays of the step schedule; 100 is about two-thirds of "
                           "an airfoil epoch at batch 10", ge=1)
    min_lr_ratio: float = param(0.0, "cosine's final lr as a fraction of the initial one; 0 anneals "
                                "all the way down, as SGDR does", ge=0, le=1)


def lr_multiplier(cfg: ScheduleConfig, step: int, total_steps: int) -> float:
    """The factor on the initial lr after `step` optimizer steps; a pure function of its inputs."""
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
    return LambdaLR(optimizer, lambda step: lr_multiplier(cfg, step, total_steps))
