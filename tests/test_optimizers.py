"""From-scratch optimizers: exact parity with torch.optim, the book's numbers, convergence, state."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys

import pytest
import torch

from d2l_lab.optimizers import (
    ALGORITHMS, SGD, AdaDelta, AdaGrad, Adam, AdamW, Lion, Momentum, OptimizerConfig, RMSProp, ScheduleConfig, Yogi,
    build_optimizer, build_scheduler,
)
from d2l_lab.optimizers.base import scalar_dtype

from .doc_pages import assert_quoted

F64 = torch.float64
TWINNED = [name for name, spec in ALGORITHMS.items() if spec.torch_class is not None]
# Each class of the table once (momentum and nesterov share one), and those without a torch twin.
CLASSES = list(dict.fromkeys(spec.scratch_class() for spec in ALGORITHMS.values()))
UNTWINNED_CLASSES = [spec.scratch_class() for spec in ALGORITHMS.values() if spec.torch_class is None]


@pytest.fixture(scope="module")
def airfoil_batches():
    """The 150 minibatches of 10 of one epoch, in a fixed (seeded) order."""
    from d2l_lab.datasets.airfoil import load_airfoil

    features, targets = load_airfoil(1500, dtype=F64)
    order = torch.randperm(1500, generator=torch.Generator().manual_seed(0))
    return [(features[batch], targets[batch].reshape(-1, 1)) for batch in order.split(10)]


def airfoil_params() -> list[torch.Tensor]:
    """w, b of the book's linear regression, and `extra`, a parameter that gets a gradient only on
    even steps (so its step count, and Adam's bias correction, lag the others)."""
    w = torch.normal(0.0, 0.01, (5, 1), generator=torch.Generator().manual_seed(0), dtype=F64)
    extra = torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    return [t.requires_grad_() for t in (w, torch.zeros(1, dtype=F64), extra)]


def start(params: list[torch.Tensor], cfg: OptimizerConfig, schedule: ScheduleConfig, steps: int):
    """Two param groups: (w, extra) with the config's values, b with half the lr and its own decay."""
    groups = [{"params": [params[0], params[2]]},
              {"params": [params[1]], "lr": cfg.hyperparameters()["lr"] / 2, "weight_decay": 0.001}]
    optimizer = build_optimizer(groups, cfg)
    return optimizer, build_scheduler(optimizer, schedule, steps)


def train(batches, optimizer, scheduler, params, steps: range) -> None:
    w, b, extra = params
    for step in steps:
        features, targets = batches[step % len(batches)]
        loss = ((features @ w + b - targets) ** 2).mean() / 2
        if step % 2 == 0:
            loss = loss + 0.1 * (extra**2).sum()
        optimizer.zero_grad()  # set_to_none: `extra` has no gradient on odd steps
        loss.backward()
        optimizer.step()
        scheduler.step()


PARITY_CASES = [
    *[(algo, None, "constant") for algo in TWINNED],
    *[(algo, 0.01, "cosine") for algo in TWINNED],
    ("momentum", 0.0, "exponential"),
    ("nesterov", 0.0, "step"),
    ("adamw", 0.0, "step"),
]


@pytest.mark.parametrize(("algo", "weight_decay", "schedule"), PARITY_CASES)
def test_equals_torch_optim_bit_for_bit(airfoil_batches, algo, weight_decay, schedule):
    """300 float64 steps; ours is saved and reloaded at step 150, torch's runs straight through."""
    cfg = OptimizerConfig(algo=algo, weight_decay=weight_decay)
    sched = ScheduleConfig(name=schedule, factor=0.99, step_size=50)
    theirs = airfoil_params()
    torch_cfg = dataclasses.replace(cfg, impl="torch")
    train(airfoil_batches, *start(theirs, torch_cfg, sched, 300), theirs, range(300))
    assert type(start(theirs, torch_cfg, sched, 1)[0]).__module__.startswith("torch.optim")

    ours = airfoil_params()
    optimizer, scheduler = start(ours, cfg, sched, 300)
    train(airfoil_batches, optimizer, scheduler, ours, range(150))
    saved = copy.deepcopy((optimizer.state_dict(), scheduler.state_dict()))
    ours = [p.detach().clone().requires_grad_() for p in ours]
    optimizer, scheduler = start(ours, cfg, sched, 300)
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    train(airfoil_batches, optimizer, scheduler, ours, range(150, 300))

    assert (ours[0] - airfoil_params()[0]).abs().max() > 0.1  # it moved, so agreeing means something
    if optimizer.counts_steps:  # SGD keeps no step count, as torch's SGD
        assert optimizer.state[ours[2]]["step"] == 150 and optimizer.state[ours[0]]["step"] == 300
    for mine, torchs in zip(ours, theirs):
        assert torch.equal(mine, torchs)


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
    assert [round(v, 6) for v in end.tolist()] == [-0.943467, -0.000073]  # docs/results.md, the book's
    assert_quoted("results.md", "GD lr 0.4 ends at (-0.943467, -0.000073)")


def test_book_momentum_on_the_bowl():
    end = trajectory(Momentum, bowl, (-5.0, -2.0), 20, lr=0.6, momentum=0.5)[-1]
    assert [round(v, 6) for v in end.tolist()] == [0.007188, 0.002553]  # docs/results.md, the book's
    assert_quoted("results.md", "momentum lr 0.6 beta 0.5 at (0.007188, 0.002553)")


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
    (Yogi, bowl, {"lr": 0.5}, 300, None),
    # A sign step moves each coordinate by lr: annealing the lr is what lands Lion on the minimum.
    (Lion, bowl, {"lr": 0.1}, 500, ScheduleConfig(name="cosine")),
    pytest.param(Adam, rosenbrock, {"lr": 0.02}, 3000, None, marks=pytest.mark.slow),
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
@pytest.mark.parametrize("optimizer_cls", CLASSES, ids=lambda cls: cls.__name__)
def test_state_holds_the_declared_fields_in_their_dtypes(optimizer_cls, dtype):
    """What the class declares, nothing else: `step` (unless counts_steps is False), the buffers
    its options need in the parameter's dtype and shape, its per-step scalars in torch's scalar
    dtype. The torch suite checks the declared names against the twin's state."""
    params = regression_params(dtype)
    optimizer = optimizer_cls(params)
    for step in range(3):
        regression_step(optimizer, params, step)
    buffers, scalars = optimizer.buffers_for(optimizer.param_groups[0]), optimizer.scalars
    for p in params:
        state = optimizer.state[p]
        assert set(state) == {*(("step",) if optimizer.counts_steps else ()), *buffers, *scalars}
        assert state.get("step", 3) == 3
        assert all(state[k].dtype == dtype and state[k].shape == p.shape for k in buffers)
        assert all(state[k].dtype == scalar_dtype() and state[k].dim() == 0 for k in scalars)


@pytest.mark.parametrize("algo", [name for name in ALGORITHMS if name not in TWINNED])
def test_state_dict_round_trip_resumes_bit_exactly(algo):
    """The twinned ones are covered by the parity test, which reloads mid-run."""
    cfg = OptimizerConfig(algo=algo, weight_decay=0.01)
    schedule = ScheduleConfig(name="cosine")

    def begin(params):
        optimizer = build_optimizer(params, cfg)
        return optimizer, build_scheduler(optimizer, schedule, 20)

    def advance(optimizer, scheduler, params, steps):
        for step in steps:
            regression_step(optimizer, params, step)
            scheduler.step()

    straight = regression_params()
    advance(*begin(straight), straight, range(20))

    first = regression_params()
    optimizer, scheduler = begin(first)
    advance(optimizer, scheduler, first, range(10))
    saved = copy.deepcopy((optimizer.state_dict(), scheduler.state_dict()))

    resumed = [p.detach().clone().requires_grad_() for p in first]
    optimizer, scheduler = begin(resumed)
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    advance(optimizer, scheduler, resumed, range(10, 20))
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


def test_parameters_without_gradients_are_left_alone():
    frozen, trained = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = Adam([frozen, trained])
    trained.grad = torch.ones(2)
    optimizer.step()
    assert torch.equal(frozen.detach(), torch.ones(2)) and not optimizer.state[frozen]
    assert optimizer.state[trained]["step"] == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": -0.1}, "Invalid learning rate: -0.1"),
    ({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    ({"eps": -1e-8}, "Invalid epsilon value"),
    ({"weight_decay": -1.0}, "Invalid weight_decay value"),
])
def test_constructors_refuse_bad_hyperparameters_like_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Adam([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("algo", TWINNED)
def test_matches_torch_optim_on_cuda(algo):
    results = []
    for impl in ("scratch", "torch"):
        params = [p.detach().cuda().requires_grad_() for p in regression_params(torch.float32)]
        optimizer = build_optimizer(params, OptimizerConfig(algo=algo, impl=impl, weight_decay=0.01))
        for step in range(20):
            regression_step(optimizer, params, step)
        results.append(torch.cat([p.detach().flatten() for p in params]))
    torch.testing.assert_close(results[0], results[1])


@pytest.mark.parametrize("optimizer_cls", CLASSES, ids=lambda cls: cls.__name__)
def test_maximize_is_minimising_the_negated_loss(optimizer_cls):
    """torch's `maximize` switch, for every class (the twinned ones are also in the torch suite)."""
    def run(maximize: bool) -> torch.Tensor:
        params = regression_params()
        optimizer = optimizer_cls(params, maximize=maximize)
        for step in range(3):
            for p in params:
                p.grad = torch.full_like(p, step + 1.0) * (-1 if maximize else 1)
            optimizer.step()
        return params[0].detach()
    assert torch.equal(run(True), run(False))


@pytest.mark.parametrize(("optimizer_cls", "old", "new"), [(AdaGrad, "sum_sq", "sum"), (RMSProp, "gamma", "alpha")])
def test_checkpoints_with_our_old_names_still_load(optimizer_cls, old, new):
    """Before torch's names were ours, AdaGrad's buffer was `sum_sq` and RMSProp's decay `gamma`."""
    params = regression_params()
    optimizer = optimizer_cls(params, 0.01, 0.5) if optimizer_cls is RMSProp else optimizer_cls(params)
    regression_step(optimizer, params, 0)
    saved = copy.deepcopy(optimizer.state_dict())
    for entries in (*saved["param_groups"], *saved["state"].values()):
        if new in entries:
            entries[old] = entries.pop(new)
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = optimizer_cls(resumed_params)  # the book's defaults: the loaded groups must win
    resumed.load_state_dict(saved)
    regression_step(optimizer, params, 1)
    regression_step(resumed, resumed_params, 1)
    assert all(torch.equal(a, b) for a, b in zip(params, resumed_params))


@pytest.mark.parametrize("optimizer_cls", UNTWINNED_CLASSES, ids=lambda cls: cls.__name__)
def test_differentiable_steps_pass_gradcheck(optimizer_cls):
    """No twin to compare gradients with, so check them against finite differences."""
    def three_steps(start: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        param = start.clone()
        optimizer = optimizer_cls([param], differentiable=True)
        for step in range(3):
            param.grad = grad * (step + 1)
            optimizer.step()
        return param

    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(3, generator=generator, dtype=F64, requires_grad=True) for _ in range(2)]
    assert torch.autograd.gradcheck(three_steps, inputs)


DYNAMO_CHECK = """
import sys, torch
from d2l_lab.optimizers import OptimizerConfig, ScheduleConfig, build_optimizer, build_scheduler
x = torch.ones(3, requires_grad=True)
optimizer = build_optimizer([x], OptimizerConfig(algo="adam", lr=0.1))
scheduler = build_scheduler(optimizer, ScheduleConfig(name="cosine"), 10)
for _ in range(2):
    optimizer.zero_grad()
    (x ** 2).sum().backward()
    optimizer.step()
    scheduler.step()
optimizer.load_state_dict(optimizer.state_dict())
print("torch._dynamo" in sys.modules)
import torch._dynamo
optimizer.zero_grad()
optimizer.load_state_dict(optimizer.state_dict())
print(x.grad is None)
"""


def test_our_optimizers_leave_torch_dynamo_unloaded():
    """torch.optim.Optimizer's add_param_group, zero_grad, state_dict and load_state_dict import
    torch._dynamo on their first call, about a second of every `d2l run optim`; ours call them
    without that wrapper until something else has loaded dynamo, and through it from then on."""
    done = subprocess.run([sys.executable, "-c", DYNAMO_CHECK], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "True"], done.stderr
