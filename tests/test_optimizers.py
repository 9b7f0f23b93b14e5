"""From-scratch optimizers: parity with torch.optim, the book's numbers, convergence, state, config."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.errors import UserError
from d2l_lab.optimizers import (
    ALGORITHMS, SGD, AdaDelta, AdaGrad, Adam, AdamW, Momentum, OptimizerConfig, RMSProp, ScheduleConfig,
    build_optimizer, build_scheduler,
)

F64 = torch.float64


@pytest.fixture(scope="module")
def airfoil_batches():
    """The 150 minibatches of 10 of one epoch, in a fixed (seeded) order."""
    from d2l_lab.datasets.airfoil import load_airfoil

    features, targets = load_airfoil(1500, dtype=F64)
    order = torch.randperm(1500, generator=torch.Generator().manual_seed(0))
    return [(features[batch], targets[batch].reshape(-1, 1)) for batch in order.split(10)]


def initial_weights() -> torch.Tensor:
    return torch.normal(0.0, 0.01, (5, 1), generator=torch.Generator().manual_seed(0), dtype=F64)


def fit_airfoil(batches, cfg: OptimizerConfig, schedule: ScheduleConfig, steps: int = 300) -> torch.Tensor:
    """The book's train_ch11 setup: linear regression, squared loss / 2, batch 10, fixed order."""
    w = initial_weights().requires_grad_()
    b = torch.zeros(1, dtype=F64, requires_grad=True)
    optimizer = build_optimizer([w, b], cfg)
    scheduler = build_scheduler(optimizer, schedule, steps)
    for step in range(steps):
        features, targets = batches[step % len(batches)]
        loss = ((features @ w + b - targets) ** 2).mean() / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return torch.cat([w.detach().flatten(), b.detach()])


PARITY_CASES = [
    *[(algo, 0.0, "constant") for algo in ALGORITHMS],
    *[(algo, 0.01, "constant") for algo in ALGORITHMS],
    ("momentum", 0.0, "cosine"),
    ("nesterov", 0.0, "step"),
    ("rmsprop", 0.0, "exponential"),
    ("adam", 0.01, "cosine"),
    ("adamw", 0.01, "step"),
]


@pytest.mark.parametrize(("algo", "weight_decay", "schedule"), PARITY_CASES)
def test_matches_torch_optim_on_airfoil(airfoil_batches, algo, weight_decay, schedule):
    cfg = OptimizerConfig(algo=algo, weight_decay=weight_decay)
    sched = ScheduleConfig(name=schedule, factor=0.9, step_size=50)
    ours = fit_airfoil(airfoil_batches, cfg, sched)
    theirs = fit_airfoil(airfoil_batches, dataclasses.replace(cfg, impl="torch"), sched)
    assert (ours[:5] - initial_weights().flatten()).abs().max() > 0.1  # it moved, so agreeing means something
    assert (ours - theirs).abs().max() < 1e-6


def bowl(x: torch.Tensor) -> torch.Tensor:
    """The book's ill-conditioned quadratic f(x) = 0.1 x1^2 + 2 x2^2 (12.3, 12.6)."""
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def trajectory(optimizer_cls, fn, start, steps, schedule: ScheduleConfig | None = None, **kwargs) -> list[torch.Tensor]:
    x = torch.tensor(start, dtype=F64, requires_grad=True)
    optimizer = optimizer_cls([x], **kwargs)
    scheduler = build_scheduler(optimizer, schedule or ScheduleConfig(), steps)
    path = [x.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        fn(x).backward()
        optimizer.step()
        scheduler.step()
        path.append(x.detach().clone())
    return path


def test_book_gradient_descent_on_the_bowl():
    end = trajectory(SGD, bowl, (-5.0, -2.0), 20, lr=0.4)[-1]
    assert end.tolist() == pytest.approx([-0.943467, -0.000073], abs=5e-7)


def test_book_momentum_on_the_bowl():
    end = trajectory(Momentum, bowl, (-5.0, -2.0), 20, lr=0.6, momentum=0.5)[-1]
    assert end.tolist() == pytest.approx([0.007188, 0.002553], abs=5e-7)


def test_book_gradient_descent_diverges_in_x2_at_lr_0_6():
    x2 = [abs(x[1].item()) for x in trajectory(SGD, bowl, (-5.0, -2.0), 20, lr=0.6)]
    assert all(later > earlier for earlier, later in zip(x2, x2[1:]))  # |x2| grows 1.4x a step
    assert x2[-1] == pytest.approx(2 * 1.4**20)


CONVERGENCE_CASES = [
    (SGD, bowl, {"lr": 0.4}, 150, None),
    (Momentum, bowl, {"lr": 0.4, "momentum": 0.5}, 100, None),
    (Momentum, bowl, {"lr": 0.2, "momentum": 0.5, "nesterov": True}, 100, None),
    (AdaGrad, bowl, {"lr": 2.0}, 200, None),
    # Constant-lr RMSProp hovers within about lr of the minimum; annealing the lr lands it.
    (RMSProp, bowl, {"lr": 0.03}, 500, ScheduleConfig(name="cosine")),
    (AdaDelta, bowl, {"rho": 0.99, "eps": 1e-3}, 1000, None),
    (Adam, bowl, {"lr": 0.5}, 200, None),
    (AdamW, bowl, {"lr": 0.5, "weight_decay": 0.0}, 200, None),
    (Adam, rosenbrock, {"lr": 0.02}, 3000, None),
    (Momentum, rosenbrock, {"lr": 2e-3, "momentum": 0.9}, 1500, None),
]


@pytest.mark.parametrize(("optimizer_cls", "fn", "kwargs", "steps", "schedule"), CONVERGENCE_CASES)
def test_converges_to_the_known_minimum(optimizer_cls, fn, kwargs, steps, schedule):
    minimum = torch.tensor([1.0, 1.0] if fn is rosenbrock else [0.0, 0.0], dtype=F64)
    start = (-1.5, 2.0) if fn is rosenbrock else (-5.0, -2.0)
    end = trajectory(optimizer_cls, fn, start, steps, schedule, **kwargs)[-1]
    assert torch.dist(end, minimum) < 1e-3


def test_adamw_decay_is_decoupled_from_the_gradient():
    """With a zero gradient Adam's step is 0, so AdamW's only move is x * (1 - lr * wd)."""
    x = torch.ones(3, dtype=F64, requires_grad=True)
    x.grad = torch.zeros_like(x)
    AdamW([x], lr=0.1, weight_decay=0.5).step()
    assert torch.equal(x.detach(), torch.full((3,), 0.95, dtype=F64))


STATE_FIELDS = {
    SGD: {"step"},
    Momentum: {"step", "momentum_buffer"},
    AdaGrad: {"step", "sum_sq"},
    RMSProp: {"step", "square_avg"},
    AdaDelta: {"step", "square_avg", "acc_delta"},
    Adam: {"step", "exp_avg", "exp_avg_sq"},
    AdamW: {"step", "exp_avg", "exp_avg_sq"},
}


def regression_params(dtype: torch.dtype = F64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(4, 3, generator=generator, dtype=dtype).requires_grad_(),
            torch.zeros(3, dtype=dtype, requires_grad=True)]


def regression_step(optimizer, params, step: int) -> None:
    generator = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 4, generator=generator, dtype=params[0].dtype)
    loss = ((x @ params[0] + params[1] - x[:, :3]) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("optimizer_cls", list(STATE_FIELDS))
def test_state_has_named_fields_in_the_parameter_dtype(optimizer_cls, dtype):
    params = regression_params(dtype)
    optimizer = optimizer_cls(params)
    for step in range(3):
        regression_step(optimizer, params, step)
    for p in params:
        state = optimizer.state[p]
        assert set(state) == STATE_FIELDS[optimizer_cls]
        assert state["step"] == 3
        assert all(state[k].dtype == dtype and state[k].shape == p.shape for k in state if k != "step")


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_state_dict_round_trip_resumes_bit_exactly(algo):
    cfg = OptimizerConfig(algo=algo, weight_decay=0.01)
    schedule = ScheduleConfig(name="cosine")

    def start(params):
        optimizer = build_optimizer(params, cfg)
        return optimizer, build_scheduler(optimizer, schedule, 20)

    def advance(optimizer, scheduler, params, steps):
        for step in steps:
            regression_step(optimizer, params, step)
            scheduler.step()

    straight = regression_params()
    advance(*start(straight), straight, range(20))

    first = regression_params()
    optimizer, scheduler = start(first)
    advance(optimizer, scheduler, first, range(10))
    saved = copy.deepcopy((optimizer.state_dict(), scheduler.state_dict()))

    resumed = [p.detach().clone().requires_grad_() for p in first]
    optimizer, scheduler = start(resumed)
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    advance(optimizer, scheduler, resumed, range(10, 20))
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


def mixed_layout_params() -> list[torch.Tensor]:
    """Big contiguous, small, and non-contiguous (transposed) leaves, to exercise CPU blocking."""
    generator = torch.Generator().manual_seed(2)
    big = torch.randn(5, 7, generator=generator, dtype=F64)
    transposed = torch.randn(6, 4, generator=generator, dtype=F64).t()
    small = torch.randn(3, generator=generator, dtype=F64)
    return [t.requires_grad_() for t in (big, small, transposed.detach(), small.clone())]


def fit_mixed(cfg: OptimizerConfig) -> torch.Tensor:
    params = mixed_layout_params()
    optimizer = build_optimizer(params, cfg)
    for step in range(5):
        x = torch.randn(7, 5, generator=torch.Generator().manual_seed(step), dtype=F64)
        loss = (torch.tanh(x @ params[0]).sum(0) * params[2].sum(0)[:1]).sum() + (params[1] * params[3]).sum() ** 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not params[2].is_contiguous() and not params[2].grad.is_contiguous()
    return torch.cat([p.detach().flatten() for p in params])


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_cpu_blocking_does_not_change_the_iterates(algo, monkeypatch):
    from d2l_lab.optimizers import base

    cfg = OptimizerConfig(algo=algo, weight_decay=0.01)
    whole = fit_mixed(cfg)
    monkeypatch.setattr(base, "CPU_BLOCK_BYTES", 8 * 8)  # 8 float64s: slices `big`, packs the rest
    blocked = fit_mixed(cfg)
    assert torch.equal(whole, blocked)
    torch.testing.assert_close(blocked, fit_mixed(dataclasses.replace(cfg, impl="torch")), rtol=0, atol=1e-12)


def test_parameters_without_gradients_are_left_alone():
    frozen, trained = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = Adam([frozen, trained])
    trained.grad = torch.ones(2)
    optimizer.step()
    assert torch.equal(frozen.detach(), torch.ones(2)) and not optimizer.state[frozen]
    assert optimizer.state[trained]["step"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("algo", ALGORITHMS)
def test_matches_torch_optim_on_cuda(algo):
    results = []
    for impl in ("scratch", "torch"):
        params = [p.detach().cuda().requires_grad_() for p in regression_params(torch.float32)]
        optimizer = build_optimizer(params, OptimizerConfig(algo=algo, impl=impl, weight_decay=0.01))
        for step in range(20):
            regression_step(optimizer, params, step)
        results.append(torch.cat([p.detach().flatten() for p in params]))
    torch.testing.assert_close(results[0], results[1])


def test_resolved_fills_the_book_defaults_and_keeps_explicit_values():
    assert OptimizerConfig().resolved().lr == 0.05
    adagrad = OptimizerConfig(algo="adagrad").resolved()
    assert (adagrad.lr, adagrad.eps) == (0.1, 1e-6)
    adadelta = OptimizerConfig(algo="adadelta").resolved()
    assert (adadelta.lr, adadelta.eps) == (1.0, 1e-5)
    assert OptimizerConfig(algo="momentum").resolved().eps is None  # nothing to put it in
    explicit = OptimizerConfig(algo="adam", lr=0.3, eps=1e-8)
    assert explicit.resolved() == explicit


def test_build_optimizer_maps_hyperparameters_to_torch():
    params = [torch.zeros(2, requires_grad=True)]
    rmsprop = build_optimizer(params, OptimizerConfig(algo="rmsprop", impl="torch", gamma=0.8))
    assert isinstance(rmsprop, torch.optim.RMSprop)
    assert {k: rmsprop.defaults[k] for k in ("lr", "alpha", "eps")} == {"lr": 0.01, "alpha": 0.8, "eps": 1e-6}
    nesterov = build_optimizer(params, OptimizerConfig(algo="nesterov", impl="torch", momentum=0.9))
    assert type(nesterov) is torch.optim.SGD and nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.9
    adamw = build_optimizer(params, OptimizerConfig(algo="adamw", impl="torch", beta1=0.8, weight_decay=0.1))
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["betas"] == (0.8, 0.999)
    assert adamw.defaults["weight_decay"] == 0.1
    adadelta = build_optimizer(params, OptimizerConfig(algo="adadelta", rho=0.95))
    assert type(adadelta) is AdaDelta and adadelta.defaults["rho"] == 0.95 and adadelta.defaults["lr"] == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"algo": "nesterov", "momentum": 0.0}, "'optimizer.momentum' must be > 0 for algo 'nesterov'"),
        ({"gamma": 1.0}, "'gamma' must be >= 0 and < 1"),
        ({"impl": "numpy"}, "'impl' must be one of scratch, torch"),
    ],
)
def test_config_rejects_meaningless_settings(data, message):
    with pytest.raises(UserError, match=message):
        from_dict(OptimizerConfig, data)


def test_importing_the_configs_does_not_import_torch():
    code = ("import sys, d2l_lab.optimizers.config, d2l_lab.optimizers.schedules; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
