"""Every optimizer of the table reaches the minimum of a parabola and of a Rosenbrock valley, in
float32 and float64 (optax's alias_test.py): generated from `optimizers/table.py`, so a new row is
tested unedited. A row's `convergence_lrs` names its lr per problem where the book's does not get
there within the problem's steps.

The loop is plain tensors and the optimizer classes, with the gradient written out (autograd would
triple the time), and the two dtypes are two parameters of one optimizer: each keeps its own state,
so they run as two separate runs would, for one step's overhead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from d2l_lab.optimizers import build_optimizer
from d2l_lab.optimizers.config import OptimizerConfig
from d2l_lab.optimizers.table import ALGORITHMS

DTYPES = (torch.float32, torch.float64)
ROSENBROCK_B = 10.0
"""f = (1 - x)^2 + B (y - x^2)^2 with B = 10, not the usual 100: its curved valley is the same,
but the Hessian at the minimum has condition number 258 instead of 2508, so plain GD (lr below
2/lambda_max) gets there in 1000 steps instead of ~10000, which the suite cannot afford."""


@dataclass(frozen=True)
class Problem:
    gradient: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    """(x, the minimum in x's dtype) -> the gradient at x."""
    start: tuple[float, float]
    minimum: tuple[float, float]
    steps: int
    tolerance: float
    """Distance to the minimum to end within: sign-based Lion and AdamW's decay (which moves the
    fixed point by about its weight decay) stay near, not at, the minimum."""


def _parabola(x: torch.Tensor, minimum: torch.Tensor) -> torch.Tensor:
    return 2 * (x - minimum)  # f = |x - minimum|^2


def _rosenbrock(x: torch.Tensor, minimum: torch.Tensor) -> torch.Tensor:
    a, b = x[0], x[1]
    r = b - a * a
    return torch.stack((-2 * (1 - a) - 4 * ROSENBROCK_B * a * r, 2 * ROSENBROCK_B * r))


PROBLEMS = {
    "parabola": Problem(_parabola, start=(0.0, 0.0), minimum=(1.0, -2.0), steps=300, tolerance=1e-2),
    # optax's start: the valley's floor is reached first, then followed round to (1, 1).
    "rosenbrock": Problem(_rosenbrock, start=(0.0, 0.0), minimum=(1.0, 1.0), steps=1000, tolerance=1e-2),
}


def descend(algo: str, name: str) -> list[torch.Tensor]:
    """The end points, one per dtype, after the problem's steps at the row's lr for the problem."""
    spec, problem = ALGORITHMS[algo], PROBLEMS[name]
    lr = spec.convergence_lrs.get(name, spec.defaults["lr"])
    xs = [torch.tensor(problem.start, dtype=dtype, requires_grad=True) for dtype in DTYPES]
    minima = [torch.tensor(problem.minimum, dtype=dtype) for dtype in DTYPES]
    optimizer = build_optimizer(xs, OptimizerConfig(algo=algo, lr=lr).resolved())
    for _ in range(problem.steps):
        for x, minimum in zip(xs, minima):
            x.grad = problem.gradient(x.detach(), minimum)
        optimizer.step()
    return xs


def _assert_reaches_the_minimum(algo: str, name: str) -> None:
    problem = PROBLEMS[name]
    start = math.dist(problem.start, problem.minimum)
    for x, dtype in zip(descend(algo, name), DTYPES):
        assert x.dtype == dtype
        assert math.dist(x.tolist(), problem.minimum) < problem.tolerance < start, (algo, dtype, x.tolist())


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_optimizer_reaches_the_minimum_of_a_parabola(algo):
    _assert_reaches_the_minimum(algo, "parabola")


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_optimizer_reaches_the_minimum_of_rosenbrock(algo):
    _assert_reaches_the_minimum(algo, "rosenbrock")


def test_the_tables_convergence_lrs_name_these_problems():
    for spec in ALGORITHMS.values():
        assert set(spec.convergence_lrs) <= set(PROBLEMS), spec.name


def test_the_rosenbrock_gradient_is_its_functions():
    x = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    ((1 - x[0]) ** 2 + ROSENBROCK_B * (x[1] - x[0] ** 2) ** 2).backward()
    assert torch.allclose(_rosenbrock(x.detach(), torch.ones(2)), x.grad)
