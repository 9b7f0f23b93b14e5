"""Every optimizer of the table reaches the minimum of a parabola, in float32 and float64
(optax's alias_test.py): generated from `optimizers/table.py`, so a new row is tested unedited."""

from __future__ import annotations

import math

import pytest
import torch

from d2l_lab.optimizers import build_optimizer
from d2l_lab.optimizers.config import OptimizerConfig
from d2l_lab.optimizers.table import ALGORITHMS

TARGET = (1.0, -2.0)
STEPS = 300
TOLERANCE = 1e-2
"""Distance to the minimum after STEPS steps from the origin: sign-based Lion and AdamW's decay
(which moves the fixed point by about its weight decay) stay near, not at, the minimum."""


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_optimizer_reaches_the_minimum_of_a_parabola(algo, dtype):
    """f = |x - TARGET|^2 from x = 0, at the row's lr for this test or else the book's."""
    spec = ALGORITHMS[algo]
    lr = spec.convergence_lr or spec.defaults["lr"]
    x = torch.zeros(2, dtype=dtype, requires_grad=True)
    optimizer = build_optimizer([x], OptimizerConfig(algo=algo, lr=lr).resolved())
    target = torch.tensor(TARGET, dtype=dtype)
    start = math.dist(x.tolist(), TARGET)
    for _ in range(STEPS):
        x.grad = 2 * (x.detach() - target)  # written out: autograd would triple the test's time
        optimizer.step()
    assert x.dtype == dtype and optimizer.state[x] is not None
    assert math.dist(x.tolist(), TARGET) < TOLERANCE < start
