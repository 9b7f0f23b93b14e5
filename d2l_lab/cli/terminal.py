"""What a person sees while something runs: a subscriber to the run loop's events, and bars for bytes.

Progress on stderr: on a terminal a bar that advances with every run-loop step (an embedding
run's steps are parts of an epoch, so it moves within an epoch and shows the epoch, words/s, lr,
loss and ETA); when stderr is not a terminal (a log file, a Slurm job, nohup) a line every
PROGRESS_EVERY_S seconds instead, as gensim logs `EPOCH 1 - PROGRESS: at 45% examples`; nothing
with --quiet or --json. Warnings on stderr, "stopping after the current step..." as soon as
Ctrl-C is pressed, and at the end either the summary table or, with --json, exactly one JSON line
on stdout.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from d2l_lab.cli import output
from d2l_lab.runs.events import DataRead, DryRunChecked, Ended, Event, Started, Stepped, Warned


READING_NOTE_EVERY_S = 10.0
"""Seconds between 'reading corpus' lines when stderr is not a terminal (a log file, a cluster)."""
PROGRESS_EVERY_S = 5.0
"""Seconds between progress lines of a run when stderr is not a terminal: often enough to see a
run move, rare enough that a day-long job's log stays readable."""
STOPPING = "stopping after the current step..."
STOPPING_BEFORE = "stopping before training starts..."
"""What Ctrl-C says while the data is still being read: the run stops before its first step."""
STILL_STOPPING = ("still stopping after the current step (more stop signals change nothing; Ctrl-\\ quits at "
                  "once, losing the steps since the last checkpoint)")
"""What a second stop signal says (`d2l_lab.cli.common.ctrl_c_stops`)."""


class Terminal:
    def __init__(self, *, quiet: bool, json: bool):
        self.quiet, self.json = quiet, json
        self._progress: Any = None
        self._bar: Any = None
        self._reading = _ReadingProgress()
        self._lines: _ProgressLines | None = None
        self._started = False

    def __call__(self, event: Event) -> None:
        """Show the event. A terminal that went away (closed, an ssh session dropped: every write
        fails with EIO) shows nothing more and never stops the run: a failed write here is not the
        run's, whose outcome is in its files and its exit code."""
        if isinstance(event, Ended):
            self.close()
            self.show_summary(event.result.summary)  # stdout: `output` drops what a gone reader cannot take
            return
        try:
            self._show(event)
        except OSError:
            self._gone()

    def _show(self, event: Event) -> None:
        if isinstance(event, DataRead):
            if not (self.quiet or self.json):
                self._reading.show(event)
        elif isinstance(event, Started):
            self._started = True
            self._reading.close()
            self._open_bar(event)
        elif isinstance(event, Stepped):
            if self._progress is not None:
                self._progress.update(self._bar, completed=event.step, loss=f"{event.loss:.4g}",
                                      detail=describe_progress(event.detail))
            elif self._lines is not None:
                self._lines.show(event)
        elif isinstance(event, Warned):
            self._stop_bars()
            output.warn(event.message)
        elif isinstance(event, DryRunChecked):
            if self.json:
                output.write_json({"dry_run": True, "device": event.device, "total_steps": event.total_steps})
            else:
                output.note(f"dry run: config valid, device {event.device}, {event.total_steps} steps; "
                            "nothing trained")

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
            if summary["status"] == "completed" and (note := undertrained_note(summary)) is not None:
                output.note(note)
            if (found := summary.get("notes", {}).get("lr_find", {})).get("command"):
                output.note(f"suggested lr {found['suggested_lr']:.3g}; train with it: {found['command']}")

    def stopping(self) -> None:
        """Ctrl-C was pressed: say so at once (this runs in the signal handler)."""
        self._say(STOPPING if self._started else STOPPING_BEFORE)

    def still_stopping(self) -> None:
        """A second stop signal: say once that it changes nothing (in the signal handler too)."""
        self._say(STILL_STOPPING)

    def _say(self, message: str) -> None:
        """Above the bar through rich, which serialises it with the bar's own refreshes; otherwise
        straight to file descriptor 2, since a `print` could land inside an interrupted write to
        stderr."""
        live = self._progress if self._progress is not None else self._reading.bar
        if live is not None:
            live.console.print(message, markup=False, highlight=False)
        else:
            os.write(2, f"{message}\n".encode())

    def close(self) -> None:
        try:
            self._stop_bars()
        except OSError:
            self._gone()
        self._lines = None

    def _gone(self) -> None:
        """Stop drawing for good: each display's refresh thread stops before its last write."""
        self.quiet = True
        for display in (self._progress, self._reading.bar):
            try:
                if display is not None:
                    display.stop()
            except OSError:
                pass
        self._progress = self._reading.bar = self._lines = None

    def _stop_bars(self) -> None:
        self._reading.close()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _open_bar(self, event: Started) -> None:
        if self.quiet or self.json:
            return
        if not sys.stderr.isatty():
            self._lines = _ProgressLines(event, PROGRESS_EVERY_S)
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[detail]}"), TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._bar = self._progress.add_task(event.experiment, total=event.total_steps,
                                            completed=event.completed_steps, loss="-", detail="")
        self._progress.start()


def describe_progress(detail: dict[str, Any]) -> str:
    """`Stepped.detail` in a few words: 'epoch 2/15 45%, 612k words/s, lr 0.0482' ('' for none)."""
    parts = []
    if "epoch" in detail:
        position = detail["epoch"]
        current = max(math.ceil(position), 1)  # 1.45 is 45% into epoch 2; 2.0 is epoch 2's end
        of = f"/{detail['epochs']}" if "epochs" in detail else ""
        parts.append(f"epoch {current}{of} {position - (current - 1):.0%}")
    if "words_per_s" in detail:
        speed = detail["words_per_s"]
        parts.append(f"{speed / 1e6:.2f}M words/s" if speed >= 1e6 else f"{speed / 1e3:.0f}k words/s")
    if "lr" in detail:
        parts.append(f"lr {detail['lr']:.3g}")
    return ", ".join(parts)


class _ProgressLines:
    """A run's progress as a line on stderr every `every_s` seconds, for logs; the estimate of the
    time left is this process's mean time per step times the steps left."""

    def __init__(self, started: Started, every_s: float) -> None:
        self.experiment, self.every_s = started.experiment, every_s
        self.first_step = started.completed_steps
        self.started = self.last_line = time.monotonic()

    def show(self, event: Stepped) -> None:
        now = time.monotonic()
        if now - self.last_line < self.every_s:
            return
        self.last_line = now
        left = (now - self.started) / max(event.step - self.first_step, 1) * (event.total_steps - event.step)
        where = describe_progress(event.detail)
        output.note(f"{self.experiment}: {where + ', ' if where else ''}loss {event.loss:.4g}, "
                    f"step {event.step}/{event.total_steps}, ETA {datetime.timedelta(seconds=round(left))}")


class _ReadingProgress:
    """Reading a corpus: a bytes bar on a terminal, else a line every READING_NOTE_EVERY_S seconds.
    Each pass over the data (counting words, then encoding them) starts again from 0."""

    def __init__(self) -> None:
        self.bar: Any = None
        """The rich display while a pass is shown on a terminal, else None."""
        self._task: Any = None
        self._passes, self._last_done, self._last_note = 0, -1, time.monotonic()

    def show(self, event: DataRead) -> None:
        if event.done < self._last_done or self._passes == 0:
            self._passes += 1
            self.close()
        self._last_done = event.done
        label = f"reading corpus (pass {self._passes})"
        if sys.stderr.isatty():
            if self.bar is None:
                self.bar = _bytes_progress()
                self._task = self.bar.add_task(label, total=event.total)
                self.bar.start()
            self.bar.update(self._task, completed=event.done, total=event.total)
        elif time.monotonic() - self._last_note >= READING_NOTE_EVERY_S:
            self._last_note = time.monotonic()
            share = f"{event.done / event.total:.0%} of " if event.total else ""
            output.note(f"{label}: {share}{(event.total or event.done) / 1e6:,.1f} MB")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@contextmanager
def terminal(*, quiet: bool, json: bool) -> Iterator[Terminal]:
    """A Terminal whose bar is gone however the run ends (an error included)."""
    shown = Terminal(quiet=quiet, json=json)
    try:
        yield shown
    finally:
        shown.close()


def undertrained_note(summary: Mapping[str, Any]) -> str | None:
    """`runs.overview.undertrained` of a run's summary.json (None for an unknown experiment): said
    after a run's summary table and after `d2l embed similar|analogy` answers from its vectors."""
    from d2l_lab.experiments.registry import EXPERIMENTS
    from d2l_lab.runs.overview import undertrained

    name = summary.get("experiment")
    if name not in EXPERIMENTS:
        return None
    return undertrained(EXPERIMENTS[name].config_class, name, (summary.get("final") or {}).get("epochs"))


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


@contextmanager
def reading_bar(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A file's reading progress (bytes read, of how many) as a rich bar on a terminal, drawn from
    its first update, so a read that gives none (a cached copy's) shows nothing; None (no bar)
    when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    shown: list[Any] = []  # the display and its task, once there is progress to show

    def update(done: int, total: int | None) -> None:
        if not shown:
            shown.extend([bar := _bytes_progress(), bar.add_task(label, total=total)])
            bar.start()
        shown[0].update(shown[1], completed=done, total=total)

    try:
        yield update
    finally:
        if shown:
            shown[0].stop()


def _bytes_progress() -> Any:
    """A rich progress display on stderr for bytes (size, speed), gone when it stops: downloads,
    corpus and vector files read."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    return Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True), transient=True)
