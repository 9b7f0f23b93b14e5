"""Learning-rate schedules: closed-form multipliers, identical lrs for both impls, resumable."""

from __future__ import annotations

import math

import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.errors import UserError
from d2l_lab.optimizers import OptimizerConfig, ScheduleConfig, build_optimizer, build_scheduler
from d2l_lab.optimizers.schedules import lr_multiplier

TOTAL = 1000


def lrs(cfg: ScheduleConfig, steps: int, impl: str = "scratch", lr: float = 0.1) -> list[float]:
    """The lr in effect at each step 0..steps-1, read from the optimizer as a training loop would."""
    optimizer = build_optimizer([torch.zeros(1, requires_grad=True)], OptimizerConfig(algo="momentum", impl=impl, lr=lr))
    scheduler = build_scheduler(optimizer, cfg, TOTAL)
    seen = []
    for _ in range(steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


@pytest.mark.parametrize(
    ("cfg", "closed_form"),
    [
        (ScheduleConfig(), lambda t: 1.0),
        (ScheduleConfig(name="exponential", factor=0.99), lambda t: 0.99**t),
        (ScheduleConfig(name="step", factor=0.5, step_size=100), lambda t: 0.5 ** (t // 100)),
        (ScheduleConfig(name="cosine"), lambda t: (1 + math.cos(math.pi * t / TOTAL)) / 2),
        (ScheduleConfig(name="cosine", min_lr_ratio=0.1),
         lambda t: 0.1 + 0.9 * (1 + math.cos(math.pi * t / TOTAL)) / 2),
    ],
)
def test_multipliers_equal_their_closed_forms(cfg, closed_form):
    for step in (0, 1, 99, 100, 250, 500, 999, TOTAL):
        assert lr_multiplier(cfg, step, TOTAL) == pytest.approx(closed_form(step), rel=1e-12, abs=1e-15)


def test_known_values():
    assert lr_multiplier(ScheduleConfig(name="step", factor=0.5, step_size=100), 250, TOTAL) == 0.25
    assert lr_multiplier(ScheduleConfig(name="cosine"), TOTAL // 2, TOTAL) == pytest.approx(0.5)
    assert lr_multiplier(ScheduleConfig(name="cosine", min_lr_ratio=0.2), TOTAL, TOTAL) == pytest.approx(0.2)
    assert lr_multiplier(ScheduleConfig(name="cosine", min_lr_ratio=0.2), 3 * TOTAL, TOTAL) == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["constant", "exponential", "step", "cosine"])
def test_optimizer_sees_lr_times_multiplier_for_both_impls(name):
    cfg = ScheduleConfig(name=name, factor=0.9, step_size=3)
    expected = [0.1 * lr_multiplier(cfg, t, TOTAL) for t in range(12)]
    assert lrs(cfg, 12) == pytest.approx(expected, rel=1e-12)
    assert lrs(cfg, 12, impl="torch") == lrs(cfg, 12)


def test_scheduler_resumes_from_its_state_dict():
    cfg = ScheduleConfig(name="cosine", min_lr_ratio=0.05)
    params = [torch.zeros(1, requires_grad=True)]
    optimizer = build_optimizer(params, OptimizerConfig(algo="sgd", lr=0.1))
    scheduler = build_scheduler(optimizer, cfg, TOTAL)
    for _ in range(300):
        optimizer.step()
        scheduler.step()
    fresh_optimizer = build_optimizer(params, OptimizerConfig(algo="sgd", lr=0.1))
    fresh = build_scheduler(fresh_optimizer, cfg, TOTAL)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh.last_epoch == 300
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * lr_multiplier(cfg, 300, TOTAL))
    optimizer.step(), scheduler.step(), fresh_optimizer.step(), fresh.step()
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_build_scheduler_needs_a_positive_step_count():
    optimizer = build_optimizer([torch.zeros(1, requires_grad=True)], OptimizerConfig())
    with pytest.raises(ValueError, match="total_steps"):
        build_scheduler(optimizer, ScheduleConfig(name="cosine"), 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "linear"}, "'name' must be one of constant, exponential, step, cosine"),
        ({"factor": 0}, "'factor' must be > 0 and <= 1"),
        ({"factor": 1.5}, "'factor' must be > 0 and <= 1"),
        ({"step_size": 0}, "'step_size' must be >= 1"),
        ({"min_lr_ratio": -0.1}, "'min_lr_ratio' must be >= 0 and <= 1"),
    ],
)
def test_schedule_config_rejects_bad_values(data, message):
    with pytest.raises(UserError, match=message):
        from_dict(ScheduleConfig, data)
