"""The config of `d2l run optim`: which problem, which optimizer, how long.

The optimizer and schedule sections are owned by `d2l_lab.optimizers`; this module composes
them with the problem and the training budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from d2l_lab.config.schema import STATED_DEFAULT, LogConfig, fill_defaults, log_section, param, refuse_unused
from d2l_lab.devices import check_device_name
from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.surfaces import NAMED, quadratic
from d2l_lab.optimizers.config import OptimizerConfig
from d2l_lab.optimizers.schedules import ScheduleConfig

AIRFOIL_ROWS = 1503

# What each problem reads, with the defaults (the keys are the fields it uses). The 2-D surfaces'
# starting points are the book's where it has one (the quadratic's (-5, -2)).
PROBLEM_FIELDS: dict[str, dict[str, Any]] = {
    "airfoil": {"examples": 1500},
    "quadratic": {"start": quadratic(0.1, 2.0).default_start, "coefficients": (0.1, 2.0)},
    **{name: {"start": s.default_start} for name, s in NAMED.items()},
}
TRAIN_FIELDS: dict[str, dict[str, int]] = {
    "airfoil": {"batch_size": 10, "epochs": 2, "eval_every": 200},
    **{name: {"steps": 20} for name in PROBLEM_FIELDS if name != "airfoil"},
}


@dataclass(frozen=True)
class ProblemConfig:
    name: str = param("airfoil", "what to minimise: linear regression on the airfoil data, or a 2-D "
                      "surface whose trajectory is plotted over its contours", choices=tuple(PROBLEM_FIELDS))
    start: tuple[float, float] | None = param(
        None, "2-D starting point; default: the surface's own ((-5, -2) for the quadratic, as the book)",
        null=STATED_DEFAULT)
    coefficients: tuple[float, float] | None = param(
        None, "quadratic f = a*x1^2 + b*x2^2, Hessian eigenvalues 2a and 2b; default the book's "
        "(0.1, 2), condition number b/a = 20 (0.1 100 gives 1000)", gt=0,
        null=STATED_DEFAULT)
    examples: int | None = param(None, "airfoil rows used; default 1500 (the book: the first 1500 of 1503)",
                                 ge=1, le=AIRFOIL_ROWS, null=STATED_DEFAULT)
    dtype: str = param("float64", "float64 makes runs exact and comparable with torch.optim; "
                       "float32 is what the book uses", choices=("float32", "float64"))

    def unused_fields(self) -> tuple[str, ...]:
        return tuple(name for name in ("start", "coefficients", "examples") if name not in PROBLEM_FIELDS[self.name])

    def check(self) -> None:
        refuse_unused(self, "problem", self.unused_fields(), f"problem '{self.name}'",
                      (*PROBLEM_FIELDS[self.name], "dtype"))

    def resolved(self) -> ProblemConfig:
        return fill_defaults(self, PROBLEM_FIELDS[self.name])


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int | None = param(None, "airfoil minibatch size; default 10 (the book's minibatch SGD; 1500 "
                                   "is full-batch GD)", ge=1, null=STATED_DEFAULT)
    epochs: int | None = param(None, "passes over the airfoil data; default 2, as the book", ge=1,
                                null=STATED_DEFAULT)
    steps: int | None = param(None, "optimizer steps on a 2-D surface; default 20, as the book's trajectories",
                              ge=1, null=STATED_DEFAULT)
    eval_every: int | None = param(None, "examples between full-data airfoil loss evaluations; default 200, "
                                   "the book's schedule", ge=1, null=STATED_DEFAULT)


@dataclass(frozen=True)
class OptimRunConfig:
    seed: int = param(0, "seeds the initial weights and every epoch's data order", ge=0, lt=2**32)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    problem: ProblemConfig = param(ProblemConfig(), "the objective")
    optimizer: OptimizerConfig = param(OptimizerConfig(), "algorithm and hyperparameters")
    schedule: ScheduleConfig = param(ScheduleConfig(), "learning-rate schedule over all steps")
    train: TrainConfig = param(TrainConfig(), "training budget: epochs of airfoil, or steps on a surface")
    log: LogConfig = log_section()
    lr_find: bool = param(False, "run Smith's learning-rate range test instead of training: lr from 1e-6 to 10 over "
                          "100 steps until the loss blows up; writes lr_find.png and suggests an lr",
                          saved_when_set=True)

    def seed_matters(self) -> bool:
        """Whether the seed changes anything: a 2-D surface starts from a fixed point and draws nothing."""
        return self.problem.name == "airfoil"

    def unused_fields(self) -> tuple[str, ...]:
        """The training-budget fields the problem does not read (`train.steps` on airfoil, ...)."""
        return tuple(f"train.{name}" for name in self._unused_train_fields())

    def _unused_train_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in TRAIN_FIELDS[self.problem.name])

    def resolved(self) -> OptimRunConfig:
        return dataclasses.replace(self, problem=self.problem.resolved(), optimizer=self.optimizer.resolved(),
                                   schedule=self.schedule.resolved(),
                                   train=fill_defaults(self.train, TRAIN_FIELDS[self.problem.name]))

    def check(self) -> None:
        check_device_name(self.device)
        refuse_unused(self.train, "train", self._unused_train_fields(), f"problem '{self.problem.name}'",
                      tuple(TRAIN_FIELDS[self.problem.name]))
        if self.lr_find and self.schedule.name != "constant":
            raise UserError(f"--lr-find sets its own rising lr: drop --schedule {self.schedule.name}")
        problem, train = self.problem.resolved(), fill_defaults(self.train, TRAIN_FIELDS[self.problem.name])
        if problem.name == "airfoil" and train.batch_size > problem.examples:
            raise UserError(
                f"config key 'train.batch_size' is {train.batch_size} but the data has only "
                f"{problem.examples} examples: use a batch size <= {problem.examples}"
            )
