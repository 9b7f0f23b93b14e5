"""The runs under an outputs root, read from their own files: `<root>/<experiment>/<run>/summary.json`.

There is no database to keep in step: a run directory is the record, so runs made by `d2l run`, a
shell loop, `xargs -P` or a sweep are all found the same way. The caller names the experiments to
look under and the key hyper-parameters of each (`Experiments`; the CLI passes the registry's), so
this module knows none. Parsed files are cached per process
by (mtime, size), so a sweep or a `runs compare` over many runs reads each file once, and a file
rewritten since is read again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab.config.keys import short_name
from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.runs.sweepdir import SWEEPS, finished_points, is_sweep_dir
from d2l_lab.runs.writer import holder

STATUSES = ("running", "completed", "diverged", "pruned", "interrupted", "failed", "incomplete")
"""A run's status as summary.json says (`failed`: a write failed, e.g. the disk was full;
`pruned`: a search's pruner stopped it early, a final result;
`running` only while its process holds the run's lock, else `interrupted`); `incomplete`: its
directory has no readable summary."""
MAX_CANDIDATES = 5
"""How many matching runs an ambiguous id lists."""
Experiments = Mapping[str, Sequence[str]]
"""Experiment name -> the dotted config keys that tell its runs apart (may be empty)."""
_FALLBACK_PARAMS = 4
"""How many config values `d2l runs list` shows for an experiment that names no key parameters."""

_cache: dict[Path, tuple[tuple[int, int], Any]] = {}


@dataclass(frozen=True)
class RunRecord:
    path: Path
    experiment: str
    summary: Mapping[str, Any]
    """summary.json, or {} when the run has none (yet) or it cannot be read."""
    key_params: Sequence[str] = ()
    """Dotted config keys that tell this experiment's runs apart, shown and labelled first."""

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        """summary.json's status, except that a run it calls `running` whose writer lock is free
        (its process is gone: killed, out of memory, a lost node) is `interrupted`
        (`d2l_lab.runs.writer`)."""
        status = str(self.summary.get("status", "incomplete"))
        if status == "running" and holder(self.path) is None:
            return "interrupted"
        return status

    @property
    def config_hash(self) -> str | None:
        return self.summary.get("config_hash")

    @property
    def final(self) -> Mapping[str, Any]:
        return self.summary.get("final") or {}

    def config(self) -> dict[str, Any]:
        """The run's config.yaml, read safely (no YAML tags); a bad one is a UserError."""
        from d2l_lab.config.loading import read_yaml

        return _cached(self.path / "config.yaml", read_yaml)

    def started(self) -> float:
        """Seconds since the epoch when the run started (its directory's mtime when unknown)."""
        stamp = self.summary.get("started_at")
        if stamp:
            try:
                return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z"))
            except ValueError:
                pass
        return self.path.stat().st_mtime


def is_run_dir(path: Path) -> bool:
    return (path / "summary.json").is_file() or (path / "config.yaml").is_file()


_SUMMARY_TYPES: dict[str, tuple[type, ...]] = {
    "experiment": (str,), "run_dir": (str,), "status": (str,), "final": (dict,), "wall_time_s": (int, float),
    "device": (str,), "seed": (int,), "config_hash": (str, type(None)), "data_checksum": (str, type(None)),
    "notes": (dict,), "versions": (dict,), "git_commit": (str, type(None)), "git_commit_reason": (str,), "started_at": (str,),
    "finished_at": (str,), "diverged_at_step": (int,), "steps_done": (int,), "total_steps": (int,),
}
"""The fields of summary.json that readers rely on, and their JSON types."""


def _valid_summary(data: Any) -> dict[str, Any]:
    """summary.json as written by the run loop, or {} (the run reads as `incomplete`) when it is
    not a mapping, a field has the wrong type or the status is unknown: one damaged file must not
    break listing every other run."""
    if not isinstance(data, dict):
        return {}
    for key, types in _SUMMARY_TYPES.items():
        if key in data and (not isinstance(data[key], types) or isinstance(data[key], bool)):
            return {}
    if data.get("status", "incomplete") not in STATUSES:
        return {}
    final = data.get("final") or {}
    if any(not isinstance(v, (str, int, float, type(None))) for v in final.values()):
        return {}
    return data


def record(path: str | Path, experiments: Experiments, experiment: str | None = None) -> RunRecord:
    """The record of one run directory."""
    path = Path(path)
    summary = _cached(path / "summary.json", _read_json) if (path / "summary.json").is_file() else None
    summary = _valid_summary(summary)
    experiment = experiment or str(summary.get("experiment") or path.parent.name)
    return RunRecord(path, experiment, summary, tuple(experiments.get(experiment, ())))


def scan(root: str | Path, experiments: Experiments) -> list[RunRecord]:
    """Every run directory of these experiments under `root`, oldest first (none when `root`
    does not exist yet; a file there is a mistyped --out, not an empty outputs root)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"outputs root '{clip(str(root))}' is a file, not a directory of runs: give the --out "
                        "the runs were written to")
    records = []
    for name in experiments:
        parent = root / name
        if parent.is_dir():
            records += [record(p, experiments, name) for p in parent.iterdir() if p.is_dir() and is_run_dir(p)]
    return sorted(records, key=lambda r: (r.summary.get("started_at", ""), r.id))


def by_config(root: str | Path, experiment: str, status: str) -> dict[str, list[RunRecord]]:
    """Runs of `experiment` with `status`, by config hash, newest first: what a sweep may reuse
    (completed) or resume (interrupted, with a checkpoint)."""
    found: dict[str, list[RunRecord]] = {}
    for run in reversed(scan(root, {experiment: ()})):
        if run.status == status and run.config_hash:
            if status == "interrupted" and not (run.path / "checkpoint.pt").is_file():
                continue
            found.setdefault(run.config_hash, []).append(run)
    return found


@dataclass(frozen=True)
class Selected:
    run: RunRecord
    point: Mapping[str, Any] | None = None
    """The swept values, when the run was named through its sweep (they label its curve)."""
    sweep: Path | None = None


def select(refs: Iterable[str], root: str | Path, experiments: Experiments) -> list[Selected]:
    """Runs named by path or id prefix, and sweeps (all their finished runs), without repeats."""
    chosen: dict[Path, Selected] = {}
    for ref in refs:
        found = _find(ref, Path(root), experiments)
        if isinstance(found, RunRecord):
            chosen.setdefault(found.path.resolve(), Selected(found))
            continue
        points = finished_points(found)
        if not points:
            raise UserError(f"sweep '{found}' has no finished runs yet: re-issue its command to run them")
        for path, values in points:
            chosen.setdefault(path.resolve(), Selected(record(path, experiments), values, found))
    return list(chosen.values())


def find_run(ref: str, root: str | Path, experiments: Experiments) -> RunRecord:
    """Exactly one run, by path or id prefix."""
    found = _find(ref, Path(root), experiments)
    if not isinstance(found, RunRecord):
        raise UserError(f"'{ref}' is a sweep ({found}): name one of its runs (see `d2l runs compare {ref}`)")
    return found


def _find(ref: str, root: Path, experiments: Experiments) -> RunRecord | Path:
    for path in (Path(ref), root / ref):
        if path.is_dir():
            if is_sweep_dir(path):
                return path
            if is_run_dir(path):
                return record(path, experiments)
            raise UserError(f"'{path}' is neither a run directory (no config.yaml) nor a sweep directory "
                            "(no sweep.yaml)")
    runs = scan(root, experiments)
    sweeps = sorted(p for p in (root / SWEEPS).glob("*") if is_sweep_dir(p)) if (root / SWEEPS).is_dir() else []
    exact = [r for r in runs if r.id == ref] + [p for p in sweeps if p.name == ref]
    if len(exact) == 1:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref)] + [p for p in sweeps if p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no run or sweep matches '{ref}' under '{root}' ({len(runs)} runs there): "
                        "see `d2l runs list`, or give --out ROOT or a path")
    names = [f"{m.experiment}/{m.id}" if isinstance(m, RunRecord) else f"{SWEEPS}/{m.name}" for m in matches]
    shown = ", ".join(names[:MAX_CANDIDATES]) + (", ..." if len(names) > MAX_CANDIDATES else "")
    raise UserError(f"'{ref}' matches {len(names)} runs or sweeps: {shown}; give a longer id prefix")


def key_params(run: RunRecord) -> dict[str, Any]:
    """The few config values that tell runs apart at a glance, by short name: the experiment's
    key parameters, or its first few config values when it names none."""
    try:
        config = run.config()
    except UserError:
        return {}
    flat = flatten(config)
    keys = tuple(run.key_params)
    if not keys:
        keys = tuple(k for k in flat if k not in ("seed", "device"))[:_FALLBACK_PARAMS]
    return {short_name(k): flat.get(k) for k in keys}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config sections -> {dotted key: value}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being replaced right now, or damaged: the run reads as incomplete


def _cached(path: Path, load: Callable[[Path], Any]) -> Any:
    if not path.is_file():
        return load(path)  # the loader says what is wrong
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = load(path)
    _cache[path] = (stamp, value)
    return value

