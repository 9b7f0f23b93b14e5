"""The shared step loop: lazy per-parameter state, then each optimizer's per-tensor `update`.

A subclass names its state buffers and writes `update(param, grad, state, group)` for ONE tensor
with public tensor ops, line for line with the equations in its docstring. Speed is not its
concern: `blocking.py` may run an elementwise update on cache-sized slices (see there), which is
why `update` must change `param` and the buffers in place and never replace a state entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch

from d2l_lab.optimizers.blocking import run_update

# torch.optim's constructor checks: (lowest allowed, exclusive upper bound or None).
_RANGES: dict[str, tuple[float, float | None]] = {
    "lr": (0.0, None), "weight_decay": (0.0, None), "eps": (0.0, None),
    "momentum": (0.0, 1.0), "gamma": (0.0, 1.0), "rho": (0.0, 1.0), "beta1": (0.0, 1.0), "beta2": (0.0, 1.0),
}


class Optimizer(torch.optim.Optimizer):
    """Base class: `state[p]` holds `step` (an int, so no device sync) and the named `buffers`."""

    buffers: ClassVar[tuple[str, ...]] = ()
    elementwise: ClassVar[bool] = False
    """True when element i of the result depends only on element i of param, grad and buffers
    (no norms, means or shapes): only then may `blocking.py` split a tensor into slices."""

    def __init__(self, params: Iterable[Any], **defaults: Any):
        hyper = dict(defaults)
        if "betas" in hyper:
            hyper["beta1"], hyper["beta2"] = hyper.pop("betas")
        for name, value in hyper.items():
            if name in _RANGES:
                check_range(name, value, *_RANGES[name])
        super().__init__(params, defaults)

    def init_state(self, param: torch.Tensor) -> dict[str, Any]:
        """Zeroed buffers, created on the first step a parameter has a gradient."""
        state: dict[str, Any] = {"step": 0}
        for name in self.buffers:
            state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[param]
                if not state:
                    state.update(self.init_state(param))
                state["step"] += 1
                run_update(self, param, param.grad, state, group)
        return loss

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One step for one tensor, in place; `state["step"]` already counts this step."""
        raise NotImplementedError


def check_range(name: str, value: float, low: float, high: float | None = None) -> None:
    """A ValueError naming the bad hyper-parameter, as torch.optim's constructors raise."""
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"invalid {name}: {value} (must be {bound})")
