"""Is a re-run the same run? Compare two metrics.csv files, ignoring columns that measure time.

Metrics are written with `repr`, so a deterministic re-run matches byte for byte in every column
that does not depend on the clock; those columns are listed here, explicitly, rather than guessed.
"""

from __future__ import annotations

from pathlib import Path

from d2l_lab.runs.metrics import read_metrics

VOLATILE_COLUMNS: frozenset[str] = frozenset({
    "wall_time", "wall_time_s", "elapsed_s", "seconds", "time_s", "epoch_s",
    "words_per_s", "tokens_per_s", "examples_per_s", "steps_per_s",
})
"""Columns that measure time or speed: they differ between identical runs. Add new ones here."""


def first_difference(stored: Path, new: Path) -> str | None:
    """None when the files agree on every non-volatile column, else what differs first."""
    old_rows, new_rows = read_metrics(stored), read_metrics(new)
    old_columns = [c for c in (old_rows[0] if old_rows else {}) if c not in VOLATILE_COLUMNS]
    new_columns = [c for c in (new_rows[0] if new_rows else {}) if c not in VOLATILE_COLUMNS]
    if old_columns != new_columns:
        return f"columns differ: stored {', '.join(old_columns)}; new {', '.join(new_columns)}"
    for number, (old, fresh) in enumerate(zip(old_rows, new_rows), start=1):
        for column in old_columns:
            if old[column] != fresh[column]:
                return (f"row {number}, column '{column}': stored {old[column]} != new {fresh[column]}\n"
                        f"  stored row: {_row(old, old_columns)}\n  new row:    {_row(fresh, old_columns)}")
    if len(old_rows) != len(new_rows):
        return f"stored metrics have {len(old_rows)} rows, the re-run {len(new_rows)}"
    return None


def _row(row: dict[str, str], columns: list[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in columns)
