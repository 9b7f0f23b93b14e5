"""What `runner.resume` checks before it continues a run, and what it restores from the checkpoint.

A checkpoint records the experiment, the config (and its hash) and the data checksum it was made
with; a resume refuses (one line, exit 2) when config.yaml or the data no longer match, naming
what changed. Checkpoints written before they recorded this are checked against summary.json's
`config_hash` and `data_checksum`, written when the run started. A run whose summary.json says
it is completed or diverged is not resumed: it is reported as it stands and no file is touched.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.runs.checkpoint import CHECKPOINT_NAME, restore_rng_state
from d2l_lab.runs.metrics import read_metrics
from d2l_lab.runs.rundir import config_hash
from d2l_lab.runs.task import Task

FINISHED = ("completed", "diverged", "pruned")
"""Statuses of a run that `--resume` leaves as it is."""
_PARTIAL_WRITE = re.compile(r"\.(checkpoint\.pt|metrics\.csv|summary\.json|config\.yaml|[\w.-]+\.png)\.\w+\.tmp")
_CHECKPOINT_KEYS = {"step": int, "task": dict, "rng": dict, "metric_rows": int}


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json as a dict, {} when it is missing or unreadable (it only adds checks)."""
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_partial_writes(run_dir: Path) -> None:
    """Temporary files of atomic writes (`files.atomic_write`) that a SIGKILL left behind; the
    files they were to replace are whole, so the temporaries are only clutter."""
    for leftover in run_dir.glob(".*.tmp"):
        if leftover.is_file() and _PARTIAL_WRITE.fullmatch(leftover.name):
            leftover.unlink(missing_ok=True)


def checked_state(state: Any, run_dir: Path, experiment: str) -> dict[str, Any]:
    """The checkpoint, if it has the shape our checkpoints have; otherwise one line."""
    bad = f"checkpoint '{run_dir / CHECKPOINT_NAME}'"
    if not isinstance(state, dict):
        raise UserError(f"{bad} is not a d2l-lab checkpoint (it holds a {type(state).__name__}): start the run again")
    for key, kind in _CHECKPOINT_KEYS.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise UserError(f"{bad} is not a d2l-lab checkpoint (missing or wrong '{key}'): start the run again")
    if state.get("experiment") not in (None, experiment):
        raise UserError(f"{bad} was made by a {clip(state['experiment'])} run, not {experiment}: "
                        "resume the run it belongs to")
    return state


def check_same_config(state: dict[str, Any], recorded: dict[str, Any], config_dict: dict[str, Any],
                      run_dir: Path) -> None:
    made_with = state.get("config_hash", recorded.get("config_hash"))
    now = config_hash(config_dict)
    if made_with is None or made_with == now:
        return
    changed = ""
    if isinstance(state.get("config"), dict):
        changes = [f"{key}: {clip(old)} -> {clip(new)}" for key, old, new in _differences(state["config"], config_dict)]
        changed = f" ({'; '.join(changes[:3])}{'; ...' if len(changes) > 3 else ''})" if changes else ""
    raise UserError(f"'{run_dir}/config.yaml' changed since the checkpoint was made (config hash {clip(made_with)} "
                    f"-> {now}){changed}: restore it, or start a new run with --config {run_dir}/config.yaml")


def check_same_data(state: dict[str, Any], recorded: dict[str, Any], checksum: str | None, run_dir: Path) -> None:
    made_with = state.get("data_checksum", recorded.get("data_checksum"))
    if made_with is None or checksum is None or made_with == checksum:
        return
    raise UserError(f"the data of '{run_dir}' changed since the checkpoint was made (data checksum "
                    f"{clip(made_with)} -> {checksum}): restore the data, or start a new run on it")


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) for every leaf of two config dicts that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in [*old, *(k for k in new if k not in old)]:
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [(prefix.rstrip("."), old, new)]


def load_state(task: Task, state: dict[str, Any], run_dir: Path) -> None:
    """Restore the task and RNGs; a checkpoint that does not fit this model is bad input."""
    try:
        task.load_state_dict(state["task"])
        restore_rng_state(state["rng"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"checkpoint '{run_dir / CHECKPOINT_NAME}' does not fit this run's model "
                        f"({clip(first, 120)}): it belongs to another run; start this one again") from None


def logged_rows(run_dir: Path, count: int) -> list[dict[str, Any]]:
    """The metrics rows up to the checkpoint (metrics.csv is flushed before every checkpoint;
    rows logged after it are dropped and will be logged again)."""
    rows = read_metrics(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else []
    if len(rows) < count:
        raise UserError(f"'{run_dir}/metrics.csv' has {len(rows)} rows but the checkpoint expects {count}: "
                        "the run directory was edited; start the run again")
    return rows[:count]


def wall_time_before(state: dict[str, Any], run_dir: Path) -> float:
    """Seconds the run trained before this resume: summary.json's, kept current at every
    checkpoint (checkpoints hold no clock reading, so identical runs write identical bytes);
    checkpoints from before 2026-11-30 carry their own `elapsed_s`."""
    recorded = state.get("elapsed_s", read_summary(run_dir).get("wall_time_s"))
    valid = isinstance(recorded, (int, float)) and not isinstance(recorded, bool) and math.isfinite(recorded)
    return float(recorded) if valid and recorded >= 0 else 0.0
