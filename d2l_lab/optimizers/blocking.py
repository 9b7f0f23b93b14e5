"""The speed layer: run an elementwise update on cache-sized slices of a big tensor (CPU only).

An update is a chain of elementwise ops (Adam: lerp, mul, addcmul, sqrt, div, add, addcdiv).
Applied to a whole 10M-element tensor, every op streams the tensor through memory before the next
one starts, so the CPU waits on RAM. Cut the tensor, its gradient and its buffers into aligned
contiguous slices of about `CPU_BLOCK_BYTES` and run the whole update on one slice before the
next: each slice stays in cache across the chain, which is what makes a per-tensor Python update
as fast as torch.optim's `foreach` path.

Slicing is exact only for updates in which element i depends on element i alone: every element
sees the same arithmetic either way. An optimizer declares that with `elementwise = True`; one
that uses a tensor's norm, mean or shape (LARS, LAMB, Adafactor) keeps the default False and is
never sliced (`tests/test_optimizer_blocking.py` checks both). Each slice's call gets the whole
state with the buffers cut to the slice, so the step count and other per-step scalars (NAdam's
`mu_product`) are advanced once per step, by `Optimizer.begin_step` before the slices run, never
by `update`.

Accelerators, small tensors and non-contiguous layouts get the plain call, and so does a state
without buffers (SGD without momentum): its update is one pass over param and grad, which slicing
cannot shorten, and restarting the stream 20 times made a 10M-parameter SGD step about 10%
slower. So does a buffer not made yet (None: SGD's momentum buffer is the first gradient, made by
the first step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

# 2 MiB slices: a slice's param, grad, buffers and temporaries (~6 slices) stay in a typical L3
# cache, and a 10M-parameter float32 step is only ~20 slices of Python-level calls.
CPU_BLOCK_BYTES = 2 << 20


class Update(Protocol):
    """What this layer needs of an optimizer (`base.Optimizer` offers it)."""

    elementwise: bool
    buffers: Sequence[str]

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None: ...


def run_update(optimizer: Update, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
    """`optimizer.update(param, grad, state, group)`, slice by slice where that is exact and pays."""
    size = CPU_BLOCK_BYTES // param.element_size()
    # The buffers this state holds (options such as AMSGrad add some); None is one not made yet.
    buffers = [name for name in optimizer.buffers if name in state]
    tensors = [param, grad, *(state[name] for name in buffers)]
    if not (optimizer.elementwise and buffers and param.is_cpu and param.numel() > size
            and all(t is not None and t.is_contiguous() for t in tensors)):
        optimizer.update(param, grad, state, group)
        return
    for piece in zip(*(t.view(-1).split(size) for t in tensors)):
        sliced_state = {**state, **dict(zip(buffers, piece[2:]))}
        optimizer.update(piece[0], piece[1], sliced_state, group)
