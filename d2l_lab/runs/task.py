"""The contract between the generic run loop and an experiment.

Like minGPT's trainer, the loop knows nothing about optimizers or embeddings: an experiment
builds a `Task` (data loaded, model initialised) and the loop steps it, logs what it evaluates,
checkpoints it and watches for divergence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class Task(Protocol):
    columns: tuple[str, ...]
    """Columns of `metrics.csv`."""
    total_steps: int
    checkpoint_every: int
    """Steps between checkpoints (the final state is always saved)."""
    data_checksum: str | None

    def initial_rows(self) -> list[dict[str, Any]]:
        """Metrics rows logged before step 1 (e.g. the loss at step 0); [] for none."""

    def train_step(self, step: int) -> float:
        """Run step `step` (1-based) and return its training loss, for divergence checks."""

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        """Metrics rows to log after `step`; [] when this step is not a logging point."""

    def final_metrics(self, step: int) -> dict[str, Any]:
        """What `summary.json` reports under `final` (and the table shows); `step` is the last
        step the task's state holds (fewer than `total_steps` when the run was interrupted)."""

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer and scheduler state: tensors and plain values only."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        """Plots and exports, from the logged rows and the final state."""

    def diverged_hint(self) -> str:
        """What to try instead, e.g. the largest stable learning rate where it is known."""

    def notes(self) -> dict[str, Any]:
        """Facts worth recording in the summary at the end (Hessian eigenvalues, evaluation)."""

    def warnings(self) -> list[str]:
        """Things the user should hear before training starts."""

    # Optional: `progress(self) -> dict[str, Any]`, where the run stands in the task's own units
    # after a step (an embedding run: epochs as a fraction, words/s, lr); the run loop passes it
    # on as `Stepped.detail` for progress displays. Tasks without it are shown by steps alone.
