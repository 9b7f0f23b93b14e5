"""Plain result tables on stdout, wide enough for run ids even when piped (rich assumes 80)."""

from __future__ import annotations

from collections.abc import Sequence

MIN_WIDTH = 140


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=max(Console().width, MIN_WIDTH)).print(table)
