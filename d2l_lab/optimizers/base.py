"""The shared step loop: lazy per-parameter state, then one vectorised update per param group.

Subclasses name their state buffers and write `_update` with `torch._foreach_*` ops over the
whole group, so a step costs a handful of kernel launches however many tensors the model has
(torch.optim's "foreach" path). Lists may mix devices or dtypes: foreach ops then fall back to
a per-tensor loop, which is still correct.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch


class ForeachOptimizer(torch.optim.Optimizer):
    """Base class: `state[p]` holds `step` (an int, so no device sync) and the named `buffers`."""

    buffers: ClassVar[tuple[str, ...]] = ()

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
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            states = []
            for p in params:
                state = self.state[p]
                if not state:
                    state.update(self.init_state(p))
                state["step"] += 1
                states.append(state)
            self._update(group, params, grads, states)
        return loss

    def _update(self, group: dict[str, Any], params: list[torch.Tensor],
                grads: list[torch.Tensor], states: list[dict[str, Any]]) -> None:
        raise NotImplementedError


def field(states: list[dict[str, Any]], name: str) -> list[torch.Tensor]:
    """One named buffer across the group, as the list a foreach op takes."""
    return [state[name] for state in states]


def with_l2(grads: list[torch.Tensor], params: list[torch.Tensor], weight_decay: float) -> list[torch.Tensor]:
    """g + wd * x (coupled L2 decay), out of place so `p.grad` is left as backward made it."""
    if weight_decay == 0:
        return grads
    return torch._foreach_add(grads, params, alpha=weight_decay)


def check_range(name: str, value: float, low: float, high: float | None = None) -> None:
    """torch.optim's constructor checks: a ValueError naming the bad hyperparameter."""
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"invalid {name}: {value} (must be {bound})")
