"""The shared step loop: lazy per-parameter state, then vectorised updates in cache-sized blocks.

Subclasses name their state buffers and write `_update` with `torch._foreach_*` ops over lists
of tensors. On accelerators one call covers the whole param group, so a step costs a handful of
kernel launches however many tensors the model has (torch.optim's "foreach" path). On the CPU
that order is slow for big models: every op streams all the parameters through memory before
the next op starts. There the group is cut into blocks of about `CPU_BLOCK_BYTES` per tensor (big
tensors are split into contiguous slices, small ones packed together) and each block runs the
whole update while it sits in cache. Every element sees the same arithmetic either way, and the
tests check the iterates come out bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch

# 2 MiB slices: a block's params, grads, buffers and temporaries (~6 slices) stay in a typical
# L3 cache, and a 10M-parameter step is only ~20 blocks of Python-level calls.
CPU_BLOCK_BYTES = 2 << 20

Block = tuple[list[torch.Tensor], list[torch.Tensor], dict[str, list[torch.Tensor]], list[int]]


class ForeachOptimizer(torch.optim.Optimizer):
    """Base class: `state[p]` holds `step` (an int, so no device sync) and the named `buffers`."""

    buffers: ClassVar[tuple[str, ...]] = ()
    # False for updates that touch each element once: blocking would only add Python overhead.
    cache_blocking: ClassVar[bool] = True

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
            buffers = {name: [state[name] for state in states] for name in self.buffers}
            steps = [state["step"] for state in states]
            if params[0].is_cpu and self.cache_blocking:
                size = CPU_BLOCK_BYTES // params[0].element_size()
                for block in _cpu_blocks(params, grads, buffers, steps, size):
                    self._update(group, *block)
            else:
                self._update(group, params, grads, buffers, steps)
        return loss

    def _update(self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor],
                buffers: dict[str, list[torch.Tensor]], steps: list[int]) -> None:
        """Apply the update to aligned lists: params[i], grads[i], buffers[name][i], steps[i]."""
        raise NotImplementedError


def _cpu_blocks(params: list[torch.Tensor], grads: list[torch.Tensor], buffers: dict[str, list[torch.Tensor]],
                steps: list[int], size: int) -> Iterator[Block]:
    """Aligned blocks of about `size` elements: small tensors packed together, big ones sliced.

    A tensor is sliced only when it, its gradient and its buffers are all contiguous, so that
    slice k of each holds the same elements.
    """
    sizes = [p.numel() for p in params]
    if sum(sizes) <= size:
        yield params, grads, buffers, steps
        return
    packed: list[int] = []
    filled = 0
    for i, (p, n) in enumerate(zip(params, sizes)):
        if n > size:
            tensors = (p, grads[i], *(column[i] for column in buffers.values()))
            if all(t.is_contiguous() for t in tensors):
                for piece in zip(*(t.view(-1).split(size) for t in tensors)):
                    yield [piece[0]], [piece[1]], {name: [t] for name, t in zip(buffers, piece[2:])}, [steps[i]]
                continue
        if packed and filled + n > size:
            yield _gather(packed, params, grads, buffers, steps)
            packed, filled = [], 0
        packed.append(i)
        filled += n
    if packed:
        yield _gather(packed, params, grads, buffers, steps)


def _gather(indices: list[int], params: list[torch.Tensor], grads: list[torch.Tensor],
            buffers: dict[str, list[torch.Tensor]], steps: list[int]) -> Block:
    return ([params[i] for i in indices], [grads[i] for i in indices],
            {name: [column[i] for i in indices] for name, column in buffers.items()}, [steps[i] for i in indices])


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
