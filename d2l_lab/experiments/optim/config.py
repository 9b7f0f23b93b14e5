"""The config of `d2l run optim`: which problem, which optimizer, how long.

The optimizer and schedule sections are owned by `d2l_lab.optimizers`; this module composes
them with the problem and the training budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.devices import check_device_name
from d2l_lab.errors import UserError
from d2l_lab.optimizers.config import OptimizerConfig
from d2l_lab.optimizers.schedules import ScheduleConfig

PROBLEMS = ("airfoil", "quadratic", "rosenbrock", "beale")
AIRFOIL_ROWS = 1503


@dataclass(frozen=True)
class ProblemConfig:
    name: str = param("airfoil", "what to minimise: linear regression on the airfoil data, or a 2-D "
                      "surface whose trajectory is plotted over its contours", choices=PROBLEMS)
    start: tuple[float, float] | None = param(
        None, "2-D starting point; null picks the problem's own ((-5, -2) for the quadratic, as the book)")
    coefficients: tuple[float, float] = param(
        (0.1, 2.0), "quadratic f = a*x1^2 + b*x2^2; the book's (0.1, 2) has condition number 20", gt=0)
    examples: int = param(1500, "airfoil rows used (the book: the first 1500 of 1503)", ge=1, le=AIRFOIL_ROWS)
    dtype: str = param("float64", "float64 makes runs exact and comparable with torch.optim; "
                       "float32 is what the book uses", choices=("float32", "float64"))


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = param(10, "airfoil minibatch size (the book's minibatch SGD uses 10; "
                            "1500 is full-batch GD)", ge=1)
    epochs: int = param(2, "passes over the airfoil data (the book trains 2)", ge=1)
    steps: int = param(20, "optimizer steps on a 2-D surface (the book's trajectories use 20)", ge=1)
    eval_every: int = param(200, "examples between full-data loss evaluations (the book's schedule)", ge=1)


@dataclass(frozen=True)
class OptimRunConfig:
    seed: int = param(0, "seeds the initial weights and every epoch's data order", ge=0)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    problem: ProblemConfig = param(ProblemConfig(), "the objective")
    optimizer: OptimizerConfig = param(OptimizerConfig(), "algorithm and hyperparameters")
    schedule: ScheduleConfig = param(ScheduleConfig(), "learning-rate schedule over all steps")
    train: TrainConfig = param(TrainConfig(), "training budget")

    def resolved(self) -> OptimRunConfig:
        return dataclasses.replace(self, optimizer=self.optimizer.resolved())

    def check(self) -> None:
        check_device_name(self.device)
        if self.problem.name == "airfoil" and self.train.batch_size > self.problem.examples:
            raise UserError(
                f"config key 'train.batch_size' is {self.train.batch_size} but the data has only "
                f"{self.problem.examples} examples: use a batch size <= {self.problem.examples}"
            )
