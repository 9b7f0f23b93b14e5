"""What a person sees while something runs: a subscriber to the run loop's events, and a download bar.

A progress bar on a terminal (nothing when stderr is piped or with --quiet/--json), warnings on
stderr, and at the end either the summary table or, with --json, exactly one JSON line on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from d2l_lab.cli import output
from d2l_lab.runs.events import DryRunChecked, Ended, Event, Started, Stepped, Warned


class Terminal:
    def __init__(self, *, quiet: bool, json: bool):
        self.quiet, self.json = quiet, json
        self._progress: Any = None
        self._bar: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
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
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda received, total: bar.update(task, completed=received, total=total)
