"""Trainers whose epochs are cut into parts: one run-loop step each, so progress, Ctrl-C and
checkpoints need not wait for an epoch (ARCHITECTURE.md, "Embedding steps are parts of epochs")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REPORT_EVERY = 50
"""Batches between `on_batch` calls: cheap enough for a progress bar, rare enough to be free."""


def report_due(batches_done: int, batches_left: int | None) -> bool:
    """Whether a training curve gets a point after this batch: every REPORT_EVERY batches of the
    epoch (`batches_done`) and after its last, but not a regular point that fewer than
    REPORT_EVERY / 2 batches would follow (`batches_left` in the epoch; None while unknown): the
    last point then covers them too. A point over a handful of batches is mostly noise, and the
    curve's centred smoothing leaves an epoch's last point as it is (seen on PTB: a last point over
    7 batches drew a spurious upturn at the end of every loss.png)."""
    if batches_left == 0:
        return True
    return batches_done % REPORT_EVERY == 0 and (batches_left is None or batches_left >= REPORT_EVERY // 2)


class TrainsInParts:
    """A trainer with `parts_per_epoch` and `train_part(epoch, part, on_batch)`; `train_epoch` runs
    a whole epoch at once, for code that has no use for the parts (benchmarks, tests)."""

    parts_per_epoch: int

    def train_epoch(self, epoch: int, on_batch: Callable[[float, float], None] | None = None) -> dict[str, Any]:
        """Train epoch `epoch` (0-based; must be the next one) in one go: all its parts. Returns
        the epoch's metrics."""
        for part in range(self.parts_per_epoch):
            metrics = self.train_part(epoch, part, on_batch)  # type: ignore[attr-defined]
        return metrics
