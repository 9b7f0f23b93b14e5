"""`metrics.csv`: one row per logged point, byte-for-byte reproducible.

Floats are written with `repr` (the shortest string that round-trips), and the file is
rewritten atomically on every flush, so it is always complete and a resumed run can restore its
rows from the checkpoint.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from d2l_lab.files import atomic_write_text

Value = float | int | str


class MetricsLog:
    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = path
        self.columns = list(columns)
        self.rows: list[dict[str, Value]] = []

    def log(self, **row: Value) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"metrics columns {sorted(unknown)} not declared")
        self.rows.append(row)

    def flush(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_format(row.get(c, "")) for c in self.columns])
        atomic_write_text(self.path, buffer.getvalue())


def _format(value: Value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
