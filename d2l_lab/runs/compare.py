"""Runs side by side: their metric curves on shared axes and a table of how each ended.

Runs that differ only by seed form one group, drawn as its mean curve over a band of +-1 standard
deviation and tabled as `mean ± std (n=K)`. Groups are labelled by what tells them apart: a sweep's
swept values when the runs were named through their sweep, else the config keys whose values
differ (the experiment's key hyper-parameters first), so `algo=adam` rather than a run id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab.config.keys import short_name
from d2l_lab.embeddings import eval_sets
from d2l_lab.errors import UserError
from d2l_lab.runs.catalog import Selected, flatten, key_params
from d2l_lab.runs.grid import describe

MAX_LABEL_KEYS = 3
LOG_SCALE_RATIO = 1e3
"""Curves spanning more than this factor get a log y axis, so a diverging run does not flatten the rest."""
SEED_KEY = "seed"
RECORD_ONLY = ("log.",)
"""Config sections that change what a run records (TensorBoard files), not its results: runs that
differ only there are alike."""
BAND = "mean ± 1 std over seeds"
"""What a group's band is: said in the legend, in the title and in docs/sweeps.md."""

DIRECTIONS: dict[str, str] = {"loss": "lower", "distance_to_minimum": "lower", "words_per_s": "higher"}
"""Which way each metric improves, besides the evaluation sets' scores (each row of
`embeddings.eval_sets` says its own); a name not listed is read by its ending (`_rho`,
`accuracy`: higher; `loss`: lower), and a metric with no direction (x1, lr) has no "best"."""


def direction(metric: str) -> str | None:
    """'lower' or 'higher' (is better), or None when neither is."""
    known = {**DIRECTIONS, **{s.metric: s.direction for s in eval_sets.EVAL_SETS}}
    if metric in known:
        return known[metric]
    if metric.endswith(("_rho", "accuracy")):
        return "higher"
    if metric.endswith("loss"):
        return "lower"
    return None


def best(values: Sequence[float], metric: str) -> float | None:
    """The best of `values` by the metric's direction (None without one, or without values)."""
    finite = [v for v in values if math.isfinite(v)]
    way = direction(metric)
    if not finite or way is None:
        return None
    return min(finite) if way == "lower" else max(finite)


@dataclass(frozen=True)
class Curve:
    selected: Selected
    x_name: str
    xs: list[float]
    ys: list[float]
    scores: list[float]
    """The values tables take the best and final of: `ys`, or a running loss's epoch means."""
    running: bool = False
    """In-epoch points of a running training loss (each the mean of the batches since the previous
    one): drawn faint under a smoothed curve."""


@dataclass(frozen=True)
class Group:
    """Runs that differ only by seed, or one run alone."""

    label: str
    curves: list[Curve]

    @property
    def runs(self) -> list[Selected]:
        return [c.selected for c in self.curves]


def x_column(columns: Sequence[str]) -> str:
    """Fractional epochs where the run logs them (embeddings: `progress`; airfoil: `epoch`), else
    optimizer steps. An embedding run's `epoch` column is the whole epoch a row belongs to, so
    plotting against it would stack each epoch's rows on one vertical line."""
    for name in ("progress", "epoch"):
        if name in columns:
            return name
    return "step"


def x_label(x_name: str) -> str:
    return "epoch" if x_name == "progress" else x_name


def curve_rows(rows: Sequence[Mapping[str, str]], metric: str) -> tuple[list[Mapping[str, str]],
                                                                         list[Mapping[str, str]]]:
    """(the rows to draw `metric` from, the rows that score it in tables).

    An embedding run logs in-epoch points (the mean loss of the batches since the previous point;
    the epoch-level columns such as `wordsim353_rho` blank) and then each epoch's own row, whose
    loss is the mean over the whole epoch. Drawn on one line, that mean, higher than the loss at
    the epoch's end because it includes the epoch's start, would jump up at every boundary: when a
    metric is logged in both kinds of row, the in-epoch rows are its curve and the epoch rows its
    scores (the numbers summary.json, `runs list` and a sweep's results.csv give); else all rows
    are both."""
    logged = [r for r in rows if r.get(metric) not in (None, "")]
    if not logged:
        return logged, logged
    filled = [sum(v not in (None, "") for v in r.values()) for r in logged]
    partial = [r for r, n in zip(logged, filled) if n < max(filled)]
    if partial and len(partial) < len(logged):
        return partial, [r for r, n in zip(logged, filled) if n == max(filled)]
    return logged, logged


def curves(selected: Sequence[Selected], metric: str) -> list[Curve]:
    """Each run's `metric` against its x column, from its metrics.csv."""
    from d2l_lab.runs.metrics import read_metrics

    out = []
    for s in selected:
        path = s.run.path / "metrics.csv"
        if not path.is_file():
            raise UserError(f"run '{s.run.id}' has no metrics.csv yet: it has not logged anything")
        rows = read_metrics(path)
        columns = list(rows[0]) if rows else []
        if metric not in columns:
            raise UserError(f"run '{s.run.id}' has no metric '{metric}': its metrics.csv columns are "
                            f"{', '.join(columns) or 'none'}; pick one with --metric")
        x = x_column(columns)
        drawn, scored = curve_rows(rows, metric)
        points = [(_number(r.get(x)), _number(r.get(metric))) for r in drawn]
        points = [(a, b) for a, b in points if a is not None and b is not None]
        scores = [v for v in (_number(r.get(metric)) for r in scored) if v is not None]
        out.append(Curve(s, x, [p[0] for p in points], [p[1] for p in points], scores, drawn is not scored))
    return out


def seed_groups(selected: Sequence[Selected]) -> list[list[Selected]]:
    """The runs grouped by experiment and config, seed and `log` section left out, in order of first
    appearance; a run whose config cannot be read stays alone."""
    groups: dict[Any, list[Selected]] = {}
    for s in selected:
        config = _flat_config(s)
        key = (s.run.experiment, repr(sorted((k, repr(v)) for k, v in config.items() if _tells_apart(k)))
               if config else s.run.path)
        groups.setdefault(key, []).append(s)
    return list(groups.values())


def labels(selected: Sequence[Selected]) -> list[str]:
    """One distinct, readable label per run (or per group, given one run of each), seeds left out;
    prefixed by the experiment when the runs are of several."""
    experiments = list(dict.fromkeys(s.run.experiment for s in selected))
    if len(experiments) > 1:
        texts = {}
        for name in experiments:
            members = [s for s in selected if s.run.experiment == name]
            texts.update({id(s): f"{name}: {t}" if t else name for s, t in zip(members, _texts(members))})
        out = [texts[id(s)] for s in selected]
    else:  # nothing differs (one run, or one configuration's seeds): its key hyper-parameters
        out = [t or describe({k: v for k, v in key_params(s.run).items() if v is not None}) or s.run.id
               for s, t in zip(selected, _texts(selected))]
    return [f"{t} ({s.run.id})" if out.count(t) > 1 else t for t, s in zip(out, selected)]


def _texts(selected: Sequence[Selected]) -> list[str]:
    """What tells runs of one experiment apart: the swept values, else the differing config keys."""
    configs = [_flat_config(s) for s in selected]
    keys = list(dict.fromkeys(k for c in configs for k in c if _tells_apart(k)))
    # A key only some runs have (Adam's beta1 beside SGD runs) is a setting the others do not use,
    # not a difference: what tells those runs apart (the algorithm) is in the label already.
    differing = [k for k in keys if len({repr(c[k]) for c in configs if k in c}) > 1]
    priority = list(selected[0].run.key_params) if selected else []
    differing.sort(key=lambda k: priority.index(k) if k in priority else len(priority))
    points = [s.point for s in selected]
    if all(p is not None for p in points) and len({tuple(p) for p in points}) == 1:
        # The swept values, then key hyper-parameters that follow from them (each algo's own lr).
        swept = [k for k in points[0] if k != SEED_KEY]
        extra = [k for k in differing if k in priority and k not in swept and short_name(k) not in swept]
        extra = extra[:max(0, MAX_LABEL_KEYS - len(swept))]
        return [describe({**{k: p[k] for k in swept}, **{short_name(k): c[k] for k in extra if k in c}})
                for p, c in zip(points, configs)]
    shown = differing[:MAX_LABEL_KEYS]
    return [describe({short_name(k): c[k] for k in shown if k in c}) for c in configs]


def shared(selected: Sequence[Selected]) -> str:
    """The experiment's key hyper-parameters that all the runs share (`problem=quadratic,
    impl=scratch`), for a title: the labels say only what differs."""
    configs = [_flat_config(s) for s in selected]
    if not selected or not all(configs):
        return ""
    keys = [k for k in selected[0].run.key_params
            if all(k in c for c in configs) and len({repr(c[k]) for c in configs}) == 1]
    return describe({short_name(k): configs[0][k] for k in keys})


def _tells_apart(key: str) -> bool:
    """Whether a config key can tell two groups apart: not the seed, nor what is only recorded."""
    return key != SEED_KEY and not key.startswith(RECORD_ONLY)


def grouped(selected: Sequence[Selected], metric: str) -> list[Group]:
    """The runs' curves of `metric`, grouped by seed and labelled."""
    by_run = {id(c.selected): c for c in curves(selected, metric)}
    members = seed_groups(selected)
    return [Group(label, [by_run[id(s)] for s in group])
            for label, group in zip(labels([g[0] for g in members]), members)]


def refuse_mixed(selected: Sequence[Selected]) -> None:
    """Runs of different experiments share no hyper-parameters: comparing them is asked for."""
    experiments = list(dict.fromkeys(s.run.experiment for s in selected))
    if len(experiments) > 1:
        raise UserError(f"these runs are of different experiments ({', '.join(experiments)}): compare one "
                        "experiment at a time, or pass --allow-mixed")


def figure(groups: Sequence[Group], metric: str, *, title: str, log_y: bool = False) -> Any:
    """The groups' curves on shared axes (the book's comparison figures): a group of several seeds
    as its mean over a +-1 std band. The y axis is logarithmic when asked, or when the values span
    more than LOG_SCALE_RATIO. Returns the matplotlib Figure."""
    from d2l_lab import plotting

    axes = {c.x_name for g in groups for c in g.curves}
    if len(axes) > 1:
        raise UserError(f"these runs log different x axes ({' and '.join(sorted(axes))}): compare them "
                        "separately, or use `d2l report`, which groups them")
    series = [_series(g) for g in groups]
    values = [abs(y) for s in series for y in s.ys if math.isfinite(y) and y != 0]
    wide = bool(values) and max(values) > LOG_SCALE_RATIO * min(values)
    x_name = next(iter(axes), "step")
    if any(len(g.curves) > 1 for g in groups):
        title = f"{title}\nband: {BAND}"
    return plotting.curves_figure(series, xlabel=x_label(x_name), ylabel=metric, title=title,
                                  log_y=log_y or wide, integer_x=x_name == "step")


def plot(path: Path, groups: Sequence[Group], metric: str, *, title: str, log_y: bool = False) -> None:
    from d2l_lab import plotting

    plotting.save(figure(groups, metric, title=title, log_y=log_y), path)


def _series(group: Group) -> Any:
    """One run as its curve; several seeds as their mean over mean -+ 1 std, on a shared x grid."""
    from d2l_lab import plotting

    running = any(c.running for c in group.curves)
    drawn = [c for c in group.curves if c.xs] or group.curves[:1]  # a run that has not logged it yet
    if len(drawn) == 1:
        return plotting.Series(group.label, drawn[0].xs, drawn[0].ys, noisy=running)
    xs, columns = _aligned(drawn)
    means = [mean_std(c)[0] for c in columns]
    if running:  # the raw mean drawn faint; the band is the spread of the smoothed curves, not batch noise
        columns = list(zip(*(plotting.smoothed(list(ys)) for ys in zip(*columns)))) if columns else []
    centres, stds = zip(*(mean_std(c) for c in columns)) if columns else ((), ())
    return plotting.Series(f"{group.label} (mean ± 1 std, n={len(drawn)})", xs, means, noisy=running,
                           band=([m - s for m, s in zip(centres, stds)], [m + s for m, s in zip(centres, stds)]))


def _aligned(drawn: Sequence[Curve]) -> tuple[list[float], list[tuple[float, ...]]]:
    """The curves' values at shared x positions: their own when they all log the same x (steps,
    airfoil evaluations), else the densest curve's x within the range they all cover, the others
    interpolated (an embedding run's in-epoch points depend on its seed's batch count)."""
    import numpy as np

    if all(c.xs == drawn[0].xs for c in drawn):
        return list(drawn[0].xs), list(zip(*(c.ys for c in drawn)))
    low, high = max(min(c.xs) for c in drawn), min(max(c.xs) for c in drawn)
    densest = max(drawn, key=lambda c: len(c.xs))
    xs = [x for x in densest.xs if low <= x <= high]
    return xs, list(zip(*(np.interp(xs, c.xs, c.ys).tolist() for c in drawn)))


def table(groups: Sequence[Group], metric: str) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: how each run (or group of seeds) ended on `metric`."""
    way = direction(metric)
    columns = ["run", "label", "status", f"final {metric}", *([f"best {metric} ({way})"] if way else []), "wall s"]
    rows = []
    for g in groups:
        finals = [_final(c, metric) for c in g.curves]
        bests = [best(c.scores, metric) for c in g.curves]
        walls = [c.selected.run.summary.get("wall_time_s") for c in g.curves]
        rows.append([run_ids(g.runs), g.label, statuses(g.runs), spread(finals),
                     *([spread(bests)] if way else []), spread(walls, digits=3)])
    return columns, rows


def _final(c: Curve, metric: str) -> Any:
    value = c.selected.run.final.get(metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return c.scores[-1] if c.scores else None


def run_ids(runs: Sequence[Selected]) -> str:
    """A run's id; a group's first id and how many runs of other seeds it holds besides
    (`+2 more seeds`: a bare `+2` said nothing)."""
    more = len(runs) - 1
    return runs[0].run.id + (f" +{more} more seed{'s' if more > 1 else ''}" if more else "")


def statuses(runs: Sequence[Selected]) -> str:
    """`completed`, or for a mixed group `2 completed, 1 diverged`."""
    counts: dict[str, int] = {}
    for s in runs:
        counts[s.run.status] = counts.get(s.run.status, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def spread(values: Sequence[Any], digits: int = 6) -> str:
    """One value as a cell; several as `mean ± std (n=K)` over those that are numbers, both to the
    std's second significant digit (a diverged seed's inf or nan counts in n and makes the mean inf
    or nan, as it should); several equal ones as `value (n=K)`, since `± 0` says nothing."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(values) == 1 or not numbers:
        return cell(values[0] if values else None, digits)
    if len(set(numbers)) == 1:
        return f"{cell(numbers[0], digits)} (n={len(numbers)})"
    numbers = [float(v) for v in numbers]
    mean, std = mean_std(numbers)
    if not (math.isfinite(std) and std > 0):
        return f"{cell(mean, digits)} ± {cell(std, 2)} (n={len(numbers)})"
    decimals = max(0, 1 - math.floor(math.log10(std)))  # the std's two significant digits set both
    return f"{mean:.{decimals}f} ± {std:.{decimals}f} (n={len(numbers)})"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of two or more values; inf or nan propagate
    (statistics.stdev raises on inf)."""
    mean = math.fsum(values) / len(values)
    if not math.isfinite(mean):
        return mean, math.nan
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _number(text: str | None) -> float | None:
    """A metrics.csv cell as a float, or None when blank or damaged (the point is skipped)."""
    try:
        return float(text) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None


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
