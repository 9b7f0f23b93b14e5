"""A search's request: `--space key=KIND:LOW:HIGH` dimensions, the budget and the strategy, parsed
and checked without torch or Optuna, so a bad space is one line before anything is imported or
written.

Kinds: `float` (uniform), `log` (log-uniform: learning rates, subsampling thresholds), `int`
(integers, uniform, both ends included) and `int-log` (integers, log-uniform). Keys are the
`--grid` keys (`d2l run` flag names or dotted keys, `d2l_lab.config.keys`); in a search, `--grid`
values are categorical dimensions the sampler chooses among. The space is checked by composing the
configs at its two corners (every low end, every high end) exactly as a run would be, so a value
out of a field's range or a key the chosen algorithm does not read is refused before any trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab.errors import UserError
from d2l_lab.runs.grid import Axis, Point, Request, dotted_key, parse_axis, point_at, scalar_text

KINDS = ("float", "log", "int", "int-log")
SEARCHES = ("tpe", "random", "cmaes", "grid")
"""Optuna's TPESampler, RandomSampler, CmaEsSampler, GridSampler (over `--grid` values only)."""
PRUNERS = ("none", "median", "hyperband")
"""Optuna's MedianPruner (its startup trials scaled to `--trials`: `search.startup_trials`) and
HyperbandPruner; `none` trains every trial to the end."""
STUDY_FILE = "study.journal"
"""In the sweep directory: the Optuna study (its journal file storage), so a search lives where
its sweep does, on the filesystem every worker shares."""


@dataclass(frozen=True)
class Dimension:
    key: str
    """Dotted config key."""
    name: str
    """Column and Optuna parameter name: the short name when unambiguous."""
    kind: str
    low: float
    high: float

    @property
    def integer(self) -> bool:
        return self.kind.startswith("int")

    @property
    def log(self) -> bool:
        return self.kind.endswith("log")


@dataclass(frozen=True)
class Search:
    dimensions: tuple[Dimension, ...]
    choices: tuple[Axis, ...]
    """`--grid` axes: categorical dimensions."""
    trials: int
    sampler: str
    pruner: str
    metric: str
    direction: str
    """'minimize' or 'maximize', from the metric's own direction."""
    seed: int

    @property
    def names(self) -> dict[str, str]:
        """Column name -> dotted key, choices first (as the grid orders them)."""
        return {**{a.name: a.key for a in self.choices}, **{d.name: d.key for d in self.dimensions}}


def is_search_dir(sweep_dir: Path) -> bool:
    return (sweep_dir / STUDY_FILE).is_file()


def wants_search(space: Sequence[str], sampler: str | None, pruner: str | None) -> bool:
    """A plain `--grid` sweep unless a space, a sampler other than grid, or a pruner is asked for."""
    return bool(space) or sampler not in (None, "grid") or pruner not in (None, "none")


def parse_dimension(item: str, config_class: type) -> Dimension:
    """One `--space key=KIND:LOW:HIGH`."""
    raw_key, sep, spec = item.partition("=")
    kind, _, bounds = spec.partition(":")
    low_text, _, high_text = bounds.partition(":")
    example = "e.g. --space lr=log:0.001:0.1 or --space window=int:2:10"
    if not sep or not raw_key.strip() or not low_text or not high_text:
        raise UserError(f"--space expects key=KIND:LOW:HIGH ({example}), got '{item}'")
    if kind not in KINDS:
        raise UserError(f"--space {raw_key}: unknown kind '{kind}': use one of {', '.join(KINDS)} ({example})")
    key = dotted_key(raw_key.strip(), config_class, "--space")
    low, high = (_number(t, item, kind.startswith("int")) for t in (low_text, high_text))
    if not low < high:
        raise UserError(f"--space {item}: LOW must be below HIGH (write {kind}:{high_text}:{low_text})")
    if kind.endswith("log") and low <= 0:
        raise UserError(f"--space {item}: a log range needs LOW > 0 (e.g. {kind}:1e-5:{high_text})")
    from d2l_lab.config.keys import column_name

    return Dimension(key, column_name(key, config_class), kind, low, high)


def plan_search(request: Request, space: Sequence[str], trials: int | None, sampler: str, pruner: str, metric: str,
                seed: int, config_class: type, direction_of: Callable[[str], str | None]) -> tuple[Search, list[Point]]:
    """The checked search and its two corner points (every check a trial's config would fail)."""
    if sampler not in SEARCHES:
        raise UserError(f"--search must be one of {', '.join(SEARCHES)}; got '{sampler}'")
    if pruner not in PRUNERS:
        raise UserError(f"--prune must be one of {', '.join(PRUNERS)}; got '{pruner}'")
    if request.seeds is not None:
        raise UserError("--seeds does not combine with a search (each trial is one run): search, then re-run "
                        "the best trial's settings with `d2l sweep ... --set KEY=VALUE --seeds K`")
    way = direction_of(metric)
    if way is None:
        raise UserError(f"--metric {metric} has no direction (better when lower or higher?): search on loss or "
                        "an evaluation score such as wordsim353_rho")
    dimensions = [parse_dimension(item, config_class) for item in space]
    choices = [parse_axis(item, config_class) for item in request.grid]
    keys = [x.key for x in [*choices, *dimensions]]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise UserError(f"{key} is given twice in --space/--grid: give each key once")
    if not keys:
        raise UserError("nothing to search: give --space KEY=KIND:LOW:HIGH (repeatable) and/or --grid KEY=V1,V2")
    if sampler == "grid" and dimensions:
        raise UserError("--search grid enumerates --grid values: give the values with --grid, or search the "
                        "--space ranges with --search tpe, random or cmaes")
    if sampler == "cmaes" and not dimensions:
        raise UserError("--search cmaes needs numeric ranges: give --space KEY=KIND:LOW:HIGH")
    if sampler == "grid":
        trials = math.prod(len(a.values) for a in choices) if trials is None else trials
    if trials is None or trials < 1:
        raise UserError(f"--trials must be >= 1 for a search (the number of trials to run), got {trials}")
    from d2l_lab.config.loading import parse_set

    fixed = {parse_set(item)[0] for item in request.sets}
    for key in keys:
        if key in fixed:
            raise UserError(f"{key} is both searched and fixed (--set): drop one of them")
    corners = [corner(i, request, choices, dimensions, end, config_class) for i, end in enumerate(("low", "high"), 1)]
    search = Search(tuple(dimensions), tuple(choices), trials, sampler, pruner, metric,
                    "minimize" if way == "lower" else "maximize", seed)
    return search, corners


def corner(index: int, request: Request, choices: Sequence[Axis], dimensions: Sequence[Dimension], end: str,
           config_class: type) -> Point:
    chosen = [(a.key, a.name, a.texts[0], a.values[0]) for a in choices]
    for d in dimensions:
        value = getattr(d, end)
        chosen.append((d.key, d.name, scalar_text(value), value))
    try:
        return point_at(index, request, chosen, config_class)
    except UserError as exc:
        ends = ", ".join(f"{d.name}={scalar_text(getattr(d, end))}" for d in dimensions)
        raise UserError(f"--space at its {end} end ({ends}): {exc}".replace(": grid point ", ": ")) from None


def _number(text: str, item: str, integer: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--space {item}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"--space {item}: '{text}' is not a finite number")
    if integer:
        if value != int(value):
            raise UserError(f"--space {item}: an int range takes integers, got '{text}'")
        return int(value)
    return value


def trial_values(search: Search, params: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(dotted key, name, text, value) of a trial's parameters, as `grid.point_at` takes them;
    categorical choices are suggested as their texts (Optuna stores scalars) and mapped back."""
    chosen = []
    for axis in search.choices:
        text = params[axis.name]
        chosen.append((axis.key, axis.name, text, axis.values[axis.texts.index(text)]))
    for d in search.dimensions:
        value = int(params[d.name]) if d.integer else float(params[d.name])
        chosen.append((d.key, d.name, scalar_text(value), value))
    return chosen
