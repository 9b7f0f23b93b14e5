"""What a person sees while something runs: a subscriber to the run loop's events, and a download bar.

A progress bar on a terminal (nothing when stderr is piped or with --quiet/--json), warnings on
stderr, and at the end either the summary table or, with --json, exactly one JSON line on stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from d2l_lab.cli import output
from d2l_lab.runs.events import DataRead, DryRunChecked, Ended, Event, Started, Stepped, Warned


READING_NOTE_EVERY_S = 10.0
"""Seconds between 'reading corpus' lines when stderr is not a terminal (a log file, a cluster)."""


class Terminal:
    def __init__(self, *, quiet: bool, json: bool):
        self.quiet, self.json = quiet, json
        self._progress: Any = None
        self._bar: Any = None
        self._reading = _ReadingProgress()

    def __call__(self, event: Event) -> None:
        if isinstance(event, DataRead):
            if not (self.quiet or self.json):
                self._reading.show(event)
        elif isinstance(event, Started):
            self._reading.close()
            self._open_bar(event)
        elif isinstance(event, Stepped):
            if self._progress is not None:
                self._progress.update(self._bar, advance=1, loss=f"{event.loss:.4g}")
        elif isinstance(event, Warned):
            self.close()
            output.warn(event.message)
        elif isinstance(event, DryRunChecked):
            if self.json:
                output.write_json({"dry_run": True, "device": event.device, "total_steps": event.total_steps})
            else:
                output.note(f"dry run: config valid, device {event.device}, {event.total_steps} steps; "
                            "nothing trained")
        elif isinstance(event, Ended):
            self.close()
            self.show_summary(event.result.summary)

    def show_summary(self, summary: dict[str, Any] | None) -> None:
        if summary is None:
            return
        if self.json:
            output.write_json(summary)
        elif not self.quiet:
            rows = [[key, _short(value)] for key, value in summary["final"].items()]
            rows += [["wall time", f"{summary['wall_time_s']:.2f} s"], ["device", summary["device"]],
                     ["run dir", summary["run_dir"]]]
            output.print_table(["key", "value"], rows, title=f"{summary['experiment']} run: {summary['status']}",
                               show_header=False)

    def close(self) -> None:
        self._reading.close()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _open_bar(self, event: Started) -> None:
        if self.quiet or self.json or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._bar = self._progress.add_task(event.experiment, total=event.total_steps,
                                            completed=event.completed_steps, loss="-")
        self._progress.start()


class _ReadingProgress:
    """Reading a corpus: a bytes bar on a terminal, else a line every READING_NOTE_EVERY_S seconds.
    Each pass over the data (counting words, then encoding them) starts again from 0."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._passes, self._last_done, self._last_note = 0, -1, time.monotonic()

    def show(self, event: DataRead) -> None:
        if event.done < self._last_done or self._passes == 0:
            self._passes += 1
            self.close()
        self._last_done = event.done
        label = f"reading corpus (pass {self._passes})"
        if sys.stderr.isatty():
            if self._bar is None:
                self._bar = _bytes_progress()
                self._task = self._bar.add_task(label, total=event.total)
                self._bar.start()
            self._bar.update(self._task, completed=event.done, total=event.total)
        elif time.monotonic() - self._last_note >= READING_NOTE_EVERY_S:
            self._last_note = time.monotonic()
            share = f"{event.done / event.total:.0%} of " if event.total else ""
            output.note(f"{label}: {share}{(event.total or event.done) / 1e6:,.1f} MB")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def terminal(*, quiet: bool, json: bool) -> Iterator[Terminal]:
    """A Terminal whose bar is gone however the run ends (an error included)."""
    shown = Terminal(quiet=quiet, json=json)
    try:
        yield shown
    finally:
        shown.close()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


@contextmanager
def download_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    """A download's progress (`d2l_lab.datasets.fetch.Progress`) as a rich bar on a terminal;
    None (no bar) when stderr is piped or the user asked for quiet."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    with _bytes_progress() as bar:
        task = bar.add_task(label, total=None)
        yield lambda received, total: bar.update(task, completed=received, total=total)


def _bytes_progress() -> Any:
    """A rich progress display on stderr for bytes (size, speed), gone when it stops: downloads
    and corpus reading."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    return Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True), transient=True)
