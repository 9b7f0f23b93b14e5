"""A sweep's plan: `--grid key=v1,v2` axes, their cross product, and every point's resolved config.

Grid keys are config keys, written as `d2l run` flags are (`lr`, `batch-size`, `problem`) or dotted
(`optimizer.lr`): the short names of `d2l_lab.config.keys`, derived from the config class itself,
so a new experiment gets them for free.

Each point is composed exactly as `d2l run --preset/--config ... --set key=value` would compose
it, so validation, precedence and the saved config are the run command's own; the plan is complete
(every point validated) before anything starts.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from d2l_lab.config.keys import all_keys, column_name, sharing, short_names
from d2l_lab.config.loading import compose, parse_set
from d2l_lab.config.schema import to_dict
from d2l_lab.errors import UserError
from d2l_lab.runs.rundir import config_hash

MAX_POINTS = 10_000
"""The largest grid planned without `--max-points`: each point is a run directory, and a typo
(`--seeds 1000000`) should not spend minutes validating before saying anything."""


@dataclass(frozen=True)
class Axis:
    key: str
    """Dotted config key."""
    name: str
    """Column name: the key's short name when unambiguous, else the dotted key."""
    texts: tuple[str, ...]
    """Each value as written, a YAML scalar (passed on as `--set key=text`)."""
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    index: int
    """1-based, in grid order (first --grid outermost)."""
    values: dict[str, Any]
    """Axis name -> value."""
    config: Any
    config_hash: str
    command: tuple[str, ...]
    """The equivalent `d2l run` command, recorded in the run's command.txt."""


@dataclass(frozen=True)
class Request:
    """What `d2l sweep` was asked, before anything is resolved."""

    experiment: str
    grid: tuple[str, ...]
    sets: tuple[str, ...] = ()
    preset: str | None = None
    config_file: Path | None = None
    seeds: int | None = None
    max_points: int = MAX_POINTS
    """Refuse grids with more points than this (`--max-points`)."""


def parse_axis(item: str, config_class: type) -> Axis:
    """One `--grid key=v1,v2,...`: key resolved to its dotted form, values read as YAML scalars."""
    raw_key, sep, raw_values = item.partition("=")
    raw_key = raw_key.strip()
    if not sep or not raw_key:
        raise UserError(f"--grid expects key=v1,v2,... (e.g. --grid lr=0.01,0.1), got '{item}'")
    key = dotted_key(raw_key, config_class)
    texts = tuple(t.strip() for t in _split_values(raw_values))
    if not raw_values.strip() or any(not t for t in texts):
        raise UserError(f"--grid {raw_key}: empty value in '{raw_values}'; give comma-separated values, "
                        "e.g. --grid lr=0.01,0.1")
    values = tuple(parse_set(f"{key}={t}")[1] for t in texts)
    for i, value in enumerate(values):
        if value in values[:i]:
            raise UserError(f"--grid {raw_key}: value '{texts[i]}' is given twice")
    return Axis(key, column_name(key, config_class), texts, values)


def plan(request: Request, config_class: type, announce: Callable[[int], None] | None = None,
         warn: Callable[[str], None] | None = None) -> tuple[list[Axis], list[Point]]:
    """Every point's validated, resolved config; any bad point is a UserError before anything runs.
    The grid's size is checked against `request.max_points` and passed to `announce` before any
    point is expanded; `warn` hears of seeds swept where they change nothing (a config whose
    `seed_matters()` is False: the points are identical runs)."""
    if request.max_points < 1:
        raise UserError(f"--max-points must be >= 1, got {request.max_points}")
    axes = [parse_axis(item, config_class) for item in request.grid]
    keys = [a.key for a in axes]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise UserError(f"--grid {axes[i].name} is given twice: list all its values in one --grid")
    fixed = {parse_set(item)[0] for item in request.sets}
    for axis in axes:
        if axis.key in fixed:
            raise UserError(f"{axis.key} is both swept (--grid) and fixed (--set): drop one of them")
    if request.seeds is not None:
        if request.seeds < 1:
            raise UserError(f"--seeds must be >= 1, got {request.seeds}")
        if "seed" in keys:
            raise UserError("give seeds either as --grid seed=... or as --seeds K, not both")
        _check_size([*(len(a.values) for a in axes), request.seeds], request.max_points)
        base = compose(config_class, request.experiment, preset=request.preset,
                       config_file=request.config_file, sets=request.sets).seed
        seeds = tuple(base + i for i in range(request.seeds))
        axes.append(Axis("seed", "seed", tuple(map(str, seeds)), seeds))
    if not axes:
        raise UserError("nothing to sweep: give --grid KEY=V1,V2 (repeatable) and/or --seeds K")
    size = _check_size([len(a.values) for a in axes], request.max_points)
    if announce is not None:
        announce(size)
    points = [_point(i, request, axes, combo, config_class)
              for i, combo in enumerate(itertools.product(*(range(len(a.values)) for a in axes)), start=1)]
    seeded = "seed" in [a.key for a in axes]
    if seeded and warn is not None:
        idle = [p for p in points if hasattr(p.config, "seed_matters") and not p.config.seed_matters()]
        if idle:
            warn(f"{len(idle)} of {len(points)} points sweep seeds where the seed changes nothing (e.g. "
                 f"{describe(idle[0].values)}): their runs will be identical")
    seen: dict[str, Point] = {}
    for point in points:
        if point.config_hash in seen:
            raise UserError(f"grid points {describe(seen[point.config_hash].values)} and "
                            f"{describe(point.values)} resolve to the same config: drop one of the values")
        seen[point.config_hash] = point
    return axes, points


def _check_size(lengths: Sequence[int], max_points: int) -> int:
    """The number of points of axes this long; a UserError when it is over `max_points`."""
    size = math.prod(lengths)
    if size > max_points:
        shape = " x ".join(f"{n:,}" for n in lengths)
        raise UserError(f"the grid has {size:,} points ({shape}), more than the {max_points:,} allowed: "
                        f"shrink it, or pass --max-points {size} to run them all")
    return size


def _point(index: int, request: Request, axes: Sequence[Axis], combo: Sequence[int], config_class: type) -> Point:
    return point_at(index, request, [(a.key, a.name, a.texts[i], a.values[i]) for a, i in zip(axes, combo)],
                    config_class)


def point_at(index: int, request: Request, chosen: Sequence[tuple[str, str, str, Any]], config_class: type) -> Point:
    """The point setting each (dotted key, column name, value as typed, value) of `chosen` over the
    request's config: a grid's combination, or a search's trial."""
    point_sets = [f"{key}={text}" for key, _, text, _ in chosen]
    values = {name: value for _, name, _, value in chosen}
    try:
        config = compose(config_class, request.experiment, preset=request.preset,
                         config_file=request.config_file, sets=[*request.sets, *point_sets])
    except UserError as exc:
        raise UserError(f"grid point {describe(values)}: {exc}") from None
    command = ["d2l", "run", request.experiment]
    if request.preset:
        command += ["--preset", request.preset]
    if request.config_file:
        command += ["--config", str(request.config_file)]
    for item in [*request.sets, *point_sets]:
        command += ["--set", item]
    return Point(index, values, config, config_hash(to_dict(config)), tuple(command))


def scalar_text(value: Any) -> str:
    """A value as one would type it after `key=` (YAML flow style: `0.01`, `sgd`, `null`, `[1, 2]`)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def describe(values: dict[str, Any]) -> str:
    """`algo=sgd, lr=0.01`: a point as a label."""
    return ", ".join(f"{k}={scalar_text(v)}" for k, v in values.items())


def dotted_key(key: str, config_class: type, flag: str = "--grid") -> str:
    """A grid (or `--space`) key as its dotted config key: dotted already, or a short name (`batch-size`)."""
    valid = all_keys(config_class)
    for dotted in (key, key.replace("-", "_")):
        if dotted in valid:
            return dotted
    short = key.replace("_", "-")
    names = short_names(config_class)
    if short in names:
        return names[short]
    meant = sharing(config_class, short)
    if len(meant) > 1:
        raise UserError(f"{flag} key '{key}' is ambiguous: use one of {', '.join(meant)}")
    close = difflib.get_close_matches(short, [*names, *valid], n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"keys are {', '.join(names)} or dotted config keys"
    raise UserError(f"unknown {flag} key '{key}': {hint}")


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, so `start=[1,2],[3,4]` gives two values."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
