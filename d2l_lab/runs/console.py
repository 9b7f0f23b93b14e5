"""What a person sees: a progress bar on a terminal, nothing noisy when piped, a final table.

Human-facing text goes to stderr so that stdout carries only results (`--json` is one line).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from collections.abc import Iterator
from typing import Any


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(message, file=sys.stderr)


class _NoProgress:
    def advance(self, steps: int = 1, loss: float | None = None) -> None:
        pass


class _RichProgress:
    def __init__(self, progress: Any, task_id: Any):
        self._progress = progress
        self._task_id = task_id

    def advance(self, steps: int = 1, loss: float | None = None) -> None:
        fields = {} if loss is None else {"loss": f"{loss:.4g}"}
        self._progress.update(self._task_id, advance=steps, **fields)


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool, completed: int = 0) -> Iterator[Any]:
    """A rich bar when stderr is a terminal and the user did not ask for quiet."""
    if not enabled or not sys.stderr.isatty():
        yield _NoProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task_id = progress.add_task(description, total=total, completed=completed, loss="-")
        yield _RichProgress(progress, task_id)


def print_summary_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['experiment']} run: {summary['status']}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in summary["final"].items():
        table.add_row(key, _short(value))
    table.add_row("wall time", f"{summary['wall_time_s']:.2f} s")
    table.add_row("device", summary["device"])
    table.add_row("run dir", summary["run_dir"])
    Console().print(table)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)
