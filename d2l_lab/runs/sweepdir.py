"""A sweep directory: `<root>/sweeps/<YYYYmmdd-HHMMSS>-<request hash>` (or `--name`).

It holds `sweep.yaml` (what was asked), `index.json` (point -> run directory) and `results.csv`
(one row per point), rewritten atomically as points finish. The directory is keyed by a hash of
the request, so re-issuing the same command finds it again and only the missing points run; it
appears with its `sweep.yaml` already inside (built in a hidden staging directory, then renamed),
so no half-made sweep directory is ever visible. Runs stay ordinary run directories under
`<root>/<experiment>/`; the index names them relative to the root, so the tree can be moved.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from d2l_lab.config.loading import read_yaml
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.rundir import check_run_name

SWEEPS = "sweeps"
SWEEP_FILE, INDEX_FILE, RESULTS_FILE = "sweep.yaml", "index.json", "results.csv"


def is_sweep_dir(path: Path) -> bool:
    return (path / SWEEP_FILE).is_file()


def open_sweep_dir(root: Path, request: Mapping[str, Any], digest: str, name: str | None) -> Path:
    """The directory of this request: an earlier identical one, or a new one made atomically."""
    parent = root / SWEEPS
    if name is not None:
        try:
            check_run_name(name)
        except UserError as exc:  # the run's message, told of a sweep
            raise UserError(str(exc).replace("run name", "sweep name").replace("the run stays",
                                                                                "the sweep stays")) from None
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create sweeps directory '{parent}': {exc.strerror}; pick another --out") from None
    if name is not None:
        target = parent / name
        if target.exists():
            if _digest(target) != digest:
                raise UserError(f"sweep '{target}' exists and holds a different request: pick another --name")
            return target
    else:
        for existing in sorted(parent.glob(f"*-{digest}")):
            if _digest(existing) == digest:
                return existing
        target = parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    try:
        staging = parent / f".new-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()  # unlike mkdtemp, honours the umask: the sweep is as readable as its runs
    except OSError as exc:
        raise UserError(f"cannot write in '{parent}': {exc.strerror}; pick another --out") from None
    try:
        text = yaml.safe_dump({**request, "request_hash": digest}, sort_keys=False, default_flow_style=None)
        atomic_write_text(staging / SWEEP_FILE, text)
        os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if _digest(target) == digest:  # an identical sweep made it first
            return target
        raise UserError(f"cannot create sweep directory '{target}': {exc.strerror}") from None
    return target


def write_progress(sweep_dir: Path, experiment: str, axes: Mapping[str, str],
                   rows: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite index.json and results.csv from one row per point (see `d2l_lab.runs.sweep.Row`)."""
    index = {"experiment": experiment, "axes": dict(axes),
             "points": [{k: row[k] for k in ("point", "values", "config_hash", "status", "reused", "run_dir")}
                        for row in rows]}
    atomic_write_text(sweep_dir / INDEX_FILE, json.dumps(index, indent=1) + "\n")
    metrics = list(dict.fromkeys(k for row in rows for k in row["final"]))
    columns = ["point", *axes, "status", *metrics, "wall_time_s", "reused", "run_dir"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = {**row["values"], **row["final"], **{k: row[k] for k in ("point", "status", "wall_time_s",
                                                                        "reused", "run_dir")}}
        writer.writerow([_cell(cells.get(c)) for c in columns])
    atomic_write_text(sweep_dir / RESULTS_FILE, buffer.getvalue())


def read_index(sweep_dir: Path) -> dict[str, Any]:
    """index.json, or an empty index for a sweep whose first point has not finished."""
    path = sweep_dir / INDEX_FILE
    if not path.is_file():
        return {"points": []}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"'{path}' is not valid JSON: re-issue the sweep's command to rebuild it") from None


def finished_points(sweep_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(run directory, swept values) of every point that has a run."""
    root = sweep_dir.parent.parent
    return [(root / p["run_dir"], p["values"]) for p in read_index(sweep_dir)["points"] if p.get("run_dir")]


def _digest(path: Path) -> str | None:
    if not is_sweep_dir(path):
        return None
    return read_yaml(path / SWEEP_FILE).get("request_hash")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
