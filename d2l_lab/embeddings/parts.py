"""Trainers whose epochs are cut into parts: one run-loop step each, so progress, Ctrl-C and
checkpoints need not wait for an epoch (ARCHITECTURE.md, "Embedding steps are parts of epochs")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
