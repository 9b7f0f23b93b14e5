"""The optional TensorBoard copy of a run's metrics (`--tensorboard`, `log.tensorboard: true`).

A subscriber to the run loop's events: every `Logged` row becomes scalars in
`<run>/tensorboard/`, and `Ended` adds the run's hyper-parameters and final metrics for the
HParams dashboard, so `tensorboard --logdir outputs` shows every run, and the points of a sweep
(ordinary runs, trained by the same loop) side by side with the values they differ in.

TensorBoard steps are whole numbers. The x of a row is its `step` where it has one (optim: the
optimizer step), else its `progress` in thousandths of an epoch (the embeddings: 2500 is half-way
through the third epoch). `torch.utils.tensorboard` needs the `tensorboard` package (the extra
of that name); the config check (`config.schema.LogConfig`) refuses the flag without it, before
a run starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from d2l_lab.config.schema import to_dict
from d2l_lab.runs.events import Ended, Event, Logged, Subscriber

FOLDER = "tensorboard"
PROGRESS_STEPS = 1000
"""TensorBoard steps per epoch for rows placed by `progress` (a fraction of epochs)."""
AXES = ("step", "progress")
"""Row columns that place a row (its x), not values to plot."""


def tensorboard_subscribers(config: Any, run_dir: Path) -> list[Subscriber]:
    """[a TensorBoard writer for this run] when its config asks for one, else []."""
    log = getattr(config, "log", None)
    return [TensorBoardSink(run_dir / FOLDER, config)] if log is not None and log.tensorboard else []


def row_step(row: Mapping[str, Any]) -> int | None:
    """Where a metrics row goes on TensorBoard's x axis (see the module docstring)."""
    if _is_number(row.get("step")):
        return int(row["step"])
    if _is_number(row.get("progress")):
        return round(float(row["progress"]) * PROGRESS_STEPS)
    return None


def hyperparameters(config: Any) -> dict[str, Any]:
    """The run's config as flat `section.key: value` pairs the HParams plugin accepts (numbers,
    strings, booleans; lists as text); the `log` section says nothing about the run."""
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            elif value is not None:
                flat[prefix + key] = value if isinstance(value, (bool, int, float, str)) else str(value)

    walk({k: v for k, v in to_dict(config).items() if k != "log"}, "")
    return flat


class TensorBoardSink:
    """Writes the rows and, at the end, the hyper-parameters of one run; opens its event file at
    the first row, so a run that logs nothing leaves nothing."""

    def __init__(self, folder: Path, config: Any):
        self.folder = folder
        self.config = config
        self._writer: Any = None
        self._last_step = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Logged):
            self._log(event.row)
        elif isinstance(event, Ended):
            self._close((event.result.summary or {}).get("final") or {})

    def _log(self, row: Mapping[str, Any]) -> None:
        step = row_step(row)
        if step is None:
            return
        writer = self._open()
        for column, value in row.items():
            if column not in AXES and _is_number(value):
                writer.add_scalar(column, float(value), step)
        self._last_step = step

    def _close(self, final: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self._open()
        metrics = {f"final/{name}": float(value) for name, value in final.items()
                   if _is_number(value) and math.isfinite(value)}
        # Into this run's own event file (SummaryWriter.add_hparams would start a second run beside
        # it), so the HParams dashboard lists one row per run; without an experiment summary,
        # TensorBoard builds the table's columns from every run's values and marks those that differ.
        _, session_start, session_end = hparams(hyperparameters(self.config), metrics)
        for summary in (session_start, session_end):
            writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, self._last_step)
        writer.close()
        self._writer = None

    def _open(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.folder))
        return self._writer


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
