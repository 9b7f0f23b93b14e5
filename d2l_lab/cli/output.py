"""The one way `d2l` writes: results on stdout (lines, one-line JSON, tables), messages on stderr.

Keeping every write here means stdout carries only results, so `--json` output is exactly one
parseable line and a table can be piped, while progress and warnings stay on the terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

MIN_TABLE_WIDTH = 140
"""Tables are at least this wide even when piped (rich assumes 80), so run ids are not folded."""


def write_line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def write_text(text: str) -> None:
    """Text that already ends as it should (a YAML document, a tokenised file)."""
    sys.stdout.write(text)


def write_json(data: Any) -> None:
    """One compact JSON line: what `--json` promises."""
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")


def note(text: str) -> None:
    """A message for the person at the terminal, never part of the results."""
    print(text, file=sys.stderr)


def warn(message: str) -> None:
    note(f"warning: {message}")


def error(message: str) -> None:
    note(f"error: {message}")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
                show_header: bool = True) -> None:
    """A plain table on stdout; `show_header=False` for key/value tables such as a run's summary."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, pad_edge=False, show_header=show_header)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=max(Console().width, MIN_TABLE_WIDTH)).print(table)
