"""A sweep's state while it runs: one row per point, what a worker is asked for each point, and
the sweep's exit code. Where the points run is a launcher's business (`d2l_lab.runs.launchers`);
whatever the launcher, results arrive as `Outcome`s and are recorded here, so index.json and
results.csv are rewritten as points finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.config.schema import to_dict
from d2l_lab.runs.grid import Axis, Point
from d2l_lab.runs.sweepdir import write_progress


@dataclass
class Row:
    """One point's line in index.json and results.csv."""

    point: int
    values: dict[str, Any]
    config_hash: str
    status: str = "pending"
    reused: bool = False
    run_dir: str | None = None
    """Relative to the outputs root: `<experiment>/<run id>`."""
    final: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float | None = None


@dataclass(frozen=True)
class Outcome:
    point: Point
    result: dict[str, Any]


class Sweep:
    """One invocation of a sweep: its points, where results go, and how far it got."""

    def __init__(self, experiment: str, axes: Sequence[Axis], points: Sequence[Point], out_root: Path,
                 sweep_dir: Path, previous: dict[str, Any]):
        self.experiment, self.points, self.out_root, self.sweep_dir = experiment, list(points), out_root, sweep_dir
        self.axes = {a.name: a.key for a in axes}
        before = {p["config_hash"]: p for p in previous.get("points", [])}
        self.rows = [self._row(p, before.get(p.config_hash)) for p in self.points]

    def _row(self, point: Point, before: dict[str, Any] | None) -> Row:
        row = Row(point.index, point.values, point.config_hash)
        if before and before.get("run_dir") and (self.out_root / before["run_dir"]).is_dir():
            row.status, row.reused, row.run_dir = before["status"], before.get("reused", False), before["run_dir"]
        return row

    def add(self, point: Point) -> None:
        """A search's point, as its trial is handed out: its row (a resumed trial keeps its own;
        a trial that failed before it ran is a `failed` row)."""
        while len(self.rows) < point.index - 1:
            self.rows.append(Row(len(self.rows) + 1, {}, "", status="failed"))
        row = Row(point.index, point.values, point.config_hash)
        if len(self.rows) < point.index:
            self.rows.append(row)
        else:
            self.rows[point.index - 1] = row

    def record(self, outcome: Outcome) -> Row:
        row = self.rows[outcome.point.index - 1]
        result, summary = outcome.result, outcome.result.get("summary")
        if summary:
            row.status, row.reused = summary["status"], result["reused"]
            row.run_dir = f"{self.experiment}/{Path(summary['run_dir']).name}"
            row.final, row.wall_time_s = dict(summary.get("final") or {}), summary.get("wall_time_s")
        else:
            row.status = "interrupted" if result["exit"] == exit_codes.INTERRUPTED else "failed"
        self.save()
        return row

    def save(self) -> None:
        write_progress(self.sweep_dir, self.experiment, self.axes, [vars(r) for r in self.rows])


def request_for(point: Point, experiment: str, out_root: Path, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """What a worker needs to run one point; it looks for runs to reuse or resume itself, under
    the point's lock (`worker.py`). `exclude`: names of run directories never to reuse or resume
    (under --force, those that existed when the sweep started: a run of the point that another
    sweep completes meanwhile is still reused, so two forced sweeps run it once)."""
    return {"experiment": experiment, "config": to_dict(point.config), "out": str(out_root),
            "command": [*point.command, "--out", str(out_root)], "exclude": list(exclude)}


def lost_point(reason: str, stopping: bool) -> dict[str, Any]:
    """The result of a point whose worker died (process killed, node lost, job cancelled): `failed`
    with the reason, or `interrupted` if the sweep was stopping anyway. Never retried here: a
    point that killed its worker (out of memory, say) would likely kill the next one too;
    re-issuing the sweep runs it again."""
    return {"exit": exit_codes.INTERRUPTED if stopping else exit_codes.INTERNAL, "summary": None, "reused": False,
            "resumed": False, "messages": "", "error": None if stopping else reason}


def exit_code(results: Sequence[dict[str, Any]], interrupted: bool) -> int:
    """130 if interrupted; 1 if a point hit an internal error; 2 if one was refused; else 0.

    A diverged point is a result of the sweep, not a failure of it: it is in results.csv and the
    sweep exits 0.
    """
    if interrupted:
        return exit_codes.INTERRUPTED
    failures = {r["exit"] for r in results if r["summary"] is None}
    if exit_codes.INTERNAL in failures:
        return exit_codes.INTERNAL
    return exit_codes.BAD_INPUT if failures else exit_codes.OK
