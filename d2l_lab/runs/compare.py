"""Runs side by side: their metric curves on shared axes and a table of how each ended.

Curves are labelled by what tells the runs apart: a sweep's swept values when the runs were named
through their sweep, else the config keys whose values differ (the experiment's key
hyper-parameters first), so `algo=adam` rather than a run id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab.errors import UserError
from d2l_lab.config.keys import short_name
from d2l_lab.runs.catalog import Selected, flatten
from d2l_lab.runs.grid import describe

MAX_LABEL_KEYS = 3
LOG_SCALE_RATIO = 1e3
"""Curves spanning more than this factor get a log y axis, so a diverging run does not flatten the rest."""


@dataclass(frozen=True)
class Curve:
    selected: Selected
    label: str
    x_name: str
    xs: list[float]
    ys: list[float]


def x_column(columns: Sequence[str]) -> str:
    """Fractional epochs where the run logs them (embeddings: `progress`; airfoil: `epoch`), else
    optimizer steps. An embedding run's `epoch` column is the whole epoch a row belongs to, so
    plotting against it would stack each epoch's rows on one vertical line."""
    for name in ("progress", "epoch"):
        if name in columns:
            return name
    return "step"


def labels(selected: Sequence[Selected]) -> list[str]:
    """One distinct, readable label per run."""
    points = [s.point for s in selected]
    if all(p is not None for p in points) and len({tuple(p) for p in points}) == 1:
        texts = [describe(dict(p)) for p in points]
    else:
        configs = [_flat_config(s) for s in selected]
        keys = list(dict.fromkeys(k for c in configs for k in c))
        differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
        priority = list(selected[0].run.key_params) if selected else []
        differing.sort(key=lambda k: priority.index(k) if k in priority else len(priority))
        shown = differing[:MAX_LABEL_KEYS]
        texts = [describe({short_name(k): c.get(k) for k in shown}) if shown else s.run.id
                 for s, c in zip(selected, configs)]
    return [f"{t} ({s.run.id})" if texts.count(t) > 1 else t for t, s in zip(texts, selected)]


def curves(selected: Sequence[Selected], metric: str) -> list[Curve]:
    """Each run's `metric` against its x column, from its metrics.csv."""
    from d2l_lab.runs.metrics import read_metrics

    out = []
    for s, label in zip(selected, labels(selected)):
        path = s.run.path / "metrics.csv"
        if not path.is_file():
            raise UserError(f"run '{s.run.id}' has no metrics.csv yet: it has not logged anything")
        rows = read_metrics(path)
        columns = list(rows[0]) if rows else []
        if metric not in columns:
            raise UserError(f"run '{s.run.id}' has no metric '{metric}': its metrics.csv columns are "
                            f"{', '.join(columns) or 'none'}; pick one with --metric")
        x = x_column(columns)
        points = [(float(r[x]), float(r[metric])) for r in rows if r.get(x) and r.get(metric)]
        out.append(Curve(s, label, x, [p[0] for p in points], [p[1] for p in points]))
    return out


def plot(path: Path, drawn: Sequence[Curve], metric: str, *, title: str, log_y: bool = False) -> None:
    """Overlay the curves (the book's comparison figures); they must share an x axis. The y axis is
    logarithmic when asked, or when the values span more than LOG_SCALE_RATIO."""
    from d2l_lab import plotting

    axes = {c.x_name for c in drawn}
    if len(axes) > 1:
        raise UserError(f"these runs log different x axes ({' and '.join(sorted(axes))}): compare them "
                        "separately, or use `d2l report`, which groups them")
    values = [abs(y) for c in drawn for y in c.ys if math.isfinite(y) and y != 0]
    wide = bool(values) and max(values) > LOG_SCALE_RATIO * min(values)
    plotting.curve_plot(path, {c.label: (c.xs, c.ys) for c in drawn}, xlabel="epoch" if drawn[0].x_name == "progress" else drawn[0].x_name,
                        ylabel=metric, log_y=log_y or wide, title=title)


def table(drawn: Sequence[Curve], metric: str) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: how each run ended on `metric`."""
    columns = ["run", "label", "status", f"final {metric}", f"min {metric}", "wall s"]
    rows = []
    for c in drawn:
        summary = c.selected.run.summary
        final = summary.get("final", {}).get(metric, c.ys[-1] if c.ys else None)
        wall = summary.get("wall_time_s")
        rows.append([c.selected.run.id, c.label, c.selected.run.status, cell(final),
                     cell(min(c.ys) if c.ys else None), "" if wall is None else f"{wall:.2f}"])
    return columns, rows


def _flat_config(s: Selected) -> dict[str, Any]:
    try:
        return flatten(s.run.config())
    except UserError:
        return {}


def cell(value: Any, digits: int = 6) -> str:
    """A value for a table: floats to `digits` significant digits, None as blank."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "" if value is None else str(value)
