"""The CPU speed layer (optimizers/blocking.py): slicing never changes an optimizer's iterates,
an optimizer that reads a whole tensor (its norm) is never sliced, and per-step scalar state
moves once per step however many slices the update runs on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from d2l_lab.optimizers import ALGORITHMS, OptimizerConfig, build_optimizer, blocking
from d2l_lab.optimizers.base import Optimizer, scalar_dtype

F64 = torch.float64
SLICE = 8 * 8  # bytes: 8 float64s, so the 35-element `big` below is cut into 5 slices


def mixed_layout_params() -> list[torch.Tensor]:
    """Big contiguous, small, and non-contiguous (transposed) leaves."""
    generator = torch.Generator().manual_seed(2)
    big = torch.randn(5, 7, generator=generator, dtype=F64)
    transposed = torch.randn(6, 4, generator=generator, dtype=F64).t()
    small = torch.randn(3, generator=generator, dtype=F64)
    return [t.requires_grad_() for t in (big, small, transposed.detach(), small.clone())]


def fit_mixed(optimizer_for: Any, steps: int = 8) -> torch.Tensor:
    """8 steps: an update that changes its rule after a warm-up (RAdam's 5 steps) is sliced in both."""
    params = mixed_layout_params()
    optimizer = optimizer_for(params)
    for step in range(steps):
        x = torch.randn(7, 5, generator=torch.Generator().manual_seed(step), dtype=F64)
        loss = (torch.tanh(x @ params[0]).sum(0) * params[2].sum(0)[:1]).sum() + (params[1] * params[3]).sum() ** 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not params[2].is_contiguous() and not params[2].grad.is_contiguous()
    return torch.cat([p.detach().flatten() for p in params])


def recording(build: Any, sizes: list[int]) -> Any:
    """`build`, with the optimizer's `update` also appending the size of every tensor it gets."""

    def make(params: list[torch.Tensor]) -> Optimizer:
        optimizer = build(params)
        update = optimizer.update

        def counted(param, grad, state, group):
            sizes.append(param.numel())
            update(param, grad, state, group)

        optimizer.update = counted  # type: ignore[method-assign]
        return optimizer

    return make


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_slicing_does_not_change_the_iterates(algo, monkeypatch):
    cfg = OptimizerConfig(algo=algo, weight_decay=0.01)
    whole = fit_mixed(lambda params: build_optimizer(params, cfg))
    monkeypatch.setattr(blocking, "CPU_BLOCK_BYTES", SLICE)
    sizes: list[int] = []
    assert torch.equal(whole, fit_mixed(recording(lambda params: build_optimizer(params, cfg), sizes)))
    # SGD keeps no buffers: its update is one pass, never sliced (see blocking.py). Momentum's
    # buffer is the first gradient (torch's rule), so its first step runs whole, then sliced.
    whole, sliced = [35, 3, 24, 3], [8, 8, 8, 8, 3, 3, 24, 3]
    expected = {"sgd": whole, "momentum": whole + sliced, "nesterov": whole + sliced}.get(algo, sliced)
    assert sizes[:len(expected)] == expected


class TrustRatioSGD(Optimizer):
    """A LARS-style step: the lr is scaled per tensor by ||x|| / ||g||, a whole-tensor quantity.

        v <- mu * v + (||x|| / ||g||) * g
        x <- x - lr * v
    """

    buffers = ("momentum_buffer",)  # state like Momentum's, so only `elementwise` keeps it whole

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.9):
        super().__init__(params, lr=lr, momentum=momentum)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        trust = (param.norm() / grad.norm()).item()
        v = state["momentum_buffer"].mul_(group["momentum"]).add_(grad, alpha=trust)
        param.add_(v, alpha=-group["lr"])


def plain_loop(optimizer_cls: type[Optimizer]) -> Any:
    """The same optimizer with its update run on whole tensors, with no speed layer at all."""

    def make(params: list[torch.Tensor]) -> Optimizer:
        optimizer = optimizer_cls(params)
        group = optimizer.param_groups[0]

        @torch.no_grad()
        def step() -> None:
            for p in params:
                state = optimizer.state[p]
                if not state:
                    state.update(optimizer.init_state(p, group))
                optimizer.begin_step(state, group)
                optimizer.update(p, p.grad, state, group)

        optimizer.step = step  # type: ignore[method-assign]
        return optimizer

    return make


def test_an_optimizer_using_tensor_norms_is_never_sliced(monkeypatch):
    monkeypatch.setattr(blocking, "CPU_BLOCK_BYTES", SLICE)
    reference = fit_mixed(plain_loop(TrustRatioSGD))
    sizes: list[int] = []
    assert torch.equal(fit_mixed(recording(TrustRatioSGD, sizes)), reference)
    assert sizes[:4] == [35, 3, 24, 3]


def test_slicing_would_change_an_optimizer_using_tensor_norms(monkeypatch):
    """So the test above can fail: declared elementwise (wrongly), the norms become per slice."""

    class Mislabelled(TrustRatioSGD):
        elementwise = True

    monkeypatch.setattr(blocking, "CPU_BLOCK_BYTES", SLICE)
    sliced = fit_mixed(Mislabelled)
    assert not torch.allclose(sliced, fit_mixed(plain_loop(TrustRatioSGD)), rtol=1e-6, atol=0)


class ShrinkingMomentum(Optimizer):
    """Momentum whose step shrinks by a running product: a per-step scalar, as NAdam's `mu_product`.

        c <- decay * c           (state "scale", starts at 1; once per step, in `begin_step`)
        v <- mu * v + g          (state "momentum_buffer", starts at 0)
        x <- x - lr * c * v
    """

    buffers = ("momentum_buffer",)
    scalars = ("scale",)
    elementwise = True

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.9, decay: float = 0.7):
        super().__init__(params, lr=lr, momentum=momentum, decay=decay)

    def init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {**super().init_state(param, group), "scale": torch.tensor(1.0, dtype=scalar_dtype())}

    def begin_step(self, state: dict[str, Any], group: dict[str, Any]) -> None:
        super().begin_step(state, group)
        state["scale"].mul_(group["decay"])

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        v = state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
        param.add_(v, alpha=-group["lr"] * state["scale"].item())


def test_per_step_scalars_advance_once_per_step_however_many_slices(monkeypatch):
    monkeypatch.setattr(blocking, "CPU_BLOCK_BYTES", SLICE)
    reference = fit_mixed(plain_loop(ShrinkingMomentum))
    sizes: list[int] = []
    built: list[Optimizer] = []

    def build(params: list[torch.Tensor]) -> Optimizer:
        built.append(ShrinkingMomentum(params))
        return built[-1]

    assert torch.equal(fit_mixed(recording(build, sizes)), reference)
    assert sizes[:5] == [8, 8, 8, 8, 3]  # `big` was sliced
    scale = torch.ones((), dtype=torch.float32)
    for _ in range(8):
        scale.mul_(0.7)
    assert all(torch.equal(state["scale"], scale) for state in built[0].state.values())


def test_slicing_would_advance_a_scalar_moved_in_update_once_per_slice(monkeypatch):
    """So the test above can fail: moved in `update`, the product advances once per slice."""

    class AdvancedInUpdate(ShrinkingMomentum):
        def begin_step(self, state: dict[str, Any], group: dict[str, Any]) -> None:
            Optimizer.begin_step(self, state, group)

        def update(self, param, grad, state, group) -> None:
            state["scale"].mul_(group["decay"])
            super().update(param, grad, state, group)

    monkeypatch.setattr(blocking, "CPU_BLOCK_BYTES", SLICE)
    sliced = fit_mixed(AdvancedInUpdate)
    assert not torch.allclose(sliced, fit_mixed(plain_loop(AdvancedInUpdate)), rtol=1e-6, atol=0)


def test_per_step_scalars_keep_their_dtype_through_a_state_dict():
    """load_state_dict casts state tensors to the parameter's dtype (float64 here): the float32
    product must stay float32, or the resumed run rounds away from the unbroken one."""
    def run(optimizer: Optimizer, param: torch.Tensor, steps: range) -> None:
        for step in steps:
            param.grad = torch.full_like(param, step + 1.0)
            optimizer.step()

    straight = torch.ones(3, dtype=F64, requires_grad=True)
    run(ShrinkingMomentum([straight]), straight, range(6))
    param = torch.ones(3, dtype=F64, requires_grad=True)
    optimizer = ShrinkingMomentum([param])
    run(optimizer, param, range(3))
    resumed = ShrinkingMomentum([param])
    resumed.load_state_dict(optimizer.state_dict())
    run(resumed, param, range(3, 6))
    assert resumed.state[param]["scale"].dtype == torch.float32
    assert torch.equal(param, straight)


@pytest.mark.parametrize("algo", [name for name, spec in ALGORITHMS.items() if spec.torch_class is not None])
def test_real_slices_equal_torch_optim_in_float32(algo):
    """At the shipped slice size (a 600k-element tensor becomes two slices, one ragged), float32."""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(600_000, generator=generator)
    grads = [torch.randn(start.shape, generator=generator) for _ in range(8)]  # past warm-ups, as above

    def run_steps(build: Any) -> torch.Tensor:
        param = start.clone().requires_grad_()
        optimizer = build([param])
        for grad in grads:
            param.grad = grad.clone()
            optimizer.step()
        return param.detach()

    cfg = OptimizerConfig(algo=algo, weight_decay=0.01)
    sizes: list[int] = []
    ours = run_steps(recording(lambda params: build_optimizer(params, cfg), sizes))
    theirs = run_steps(lambda params: build_optimizer(params, dataclasses.replace(cfg, impl="torch")))
    assert torch.equal(ours, theirs)
    per_slice = blocking.CPU_BLOCK_BYTES // 4
    # SGD: never sliced; momentum: its first step makes the buffer (whole), then sliced.
    whole, sliced = [600_000], [per_slice, 600_000 - per_slice]
    expected = {"sgd": whole, "momentum": whole + sliced, "nesterov": whole + sliced}.get(algo, sliced)
    assert sizes[:len(expected)] == expected
