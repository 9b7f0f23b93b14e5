"""Run a sweep's points in parallel worker processes and keep its directory up to date.

Why long-lived worker subprocesses (`d2l_lab.runs.worker`, started with the command the caller
passes in: the CLI's `d2l_lab.cli.sweep_worker`, which knows the experiments) rather than one `d2l run` per point
or a multiprocessing pool:
- a point costs what the run costs: each worker imports torch once (2-3 s) and runs many points,
  where a `d2l run` per point pays that for every point, more than a book-sized run itself takes;
- a point is checked against completed runs inside the worker, which has to build the task anyway
  to know the data checksum, and then trains that same task;
- workers are plain processes in their own session talking JSON lines over pipes: a crash loses
  one point (the next one gets a fresh worker), Ctrl-C reaches each worker exactly once (the sweep
  forwards it, so every running point checkpoints and is marked `interrupted`), and a killed sweep
  leaves no orphan behind (workers watch their parent), which a multiprocessing pool guarantees
  none of.
Torch threads are split between workers: cores // jobs each, at least 1.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.config.schema import to_dict
from d2l_lab.runs.catalog import RunRecord
from d2l_lab.runs.grid import Axis, Point
from d2l_lab.runs.sweepdir import write_progress


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_job(cores: int, jobs: int) -> int:
    """Torch threads per worker, so `jobs` workers together use the cores without oversubscribing."""
    return max(1, cores // jobs)


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


def request_for(point: Point, experiment: str, out_root: Path, reuse: Sequence[RunRecord],
                resume: Sequence[RunRecord], reuse_new: bool = True) -> dict[str, Any]:
    """What a worker needs to reuse, resume or run one point; `reuse_new`: whether a run of it
    that another sweep completes meanwhile may be reused (not under --force)."""
    def candidates(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
        return [{"run_dir": str(r.path), "data_checksum": r.summary.get("data_checksum")} for r in runs]

    return {"experiment": experiment, "config": to_dict(point.config), "out": str(out_root),
            "command": [*point.command, "--out", str(out_root)], "reuse": candidates(reuse),
            "resume": candidates(resume), "reuse_new": reuse_new}


class WorkerPool:
    """`jobs` worker processes fed one point at a time; results arrive on `outcomes` as they finish.
    A worker is `worker_command THREADS` speaking the protocol of `d2l_lab.runs.worker`."""

    def __init__(self, jobs: int, threads: int, worker_command: Sequence[str]):
        self.jobs, self.threads, self.worker_command = jobs, threads, list(worker_command)
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self._threads: list[threading.Thread] = []

    def busy(self) -> bool:
        """Whether a worker may still deliver an outcome."""
        return any(t.is_alive() for t in self._threads) or not self.outcomes.empty()

    def start(self, work: Sequence[tuple[Point, dict[str, Any]]]) -> None:
        pending = iter(work)

        def take() -> tuple[Point, dict[str, Any]] | None:
            with self._lock:
                return None if self._stop.is_set() else next(pending, None)

        self._threads = [threading.Thread(target=self._drive, args=(take,), daemon=True) for _ in range(self.jobs)]
        for thread in self._threads:
            thread.start()

    def interrupt(self) -> None:
        """Dispatch nothing more; Ctrl-C every running worker once (each saves its running point)."""
        with self._lock:
            self._stop.set()
            for proc in self._live:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        proc = subprocess.Popen([*self.worker_command, str(self.threads)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)  # our Ctrl-C is forwarded once, by `interrupt`
        with self._lock:
            self._live.add(proc)
        return proc

    def _drive(self, take: Callable[[], tuple[Point, dict[str, Any]] | None]) -> None:
        proc: subprocess.Popen | None = None
        while (item := take()) is not None:
            point, request = item
            proc = proc if proc is not None and proc.poll() is None else self._spawn()
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError:
                line = ""
            if line:
                result = json.loads(line)
            else:  # the worker died: this point is lost, the next one gets a fresh worker
                code = proc.wait()
                interrupted = self._stop.is_set()
                result = {"exit": exit_codes.INTERRUPTED if interrupted else exit_codes.INTERNAL, "summary": None,
                          "reused": False, "resumed": False, "messages": "",
                          "error": None if interrupted else f"worker process died (exit code {code})"}
            self.outcomes.put(Outcome(point, result))
            if result["exit"] == exit_codes.INTERRUPTED:
                break
        if proc is not None:
            try:
                proc.stdin.close()  # the worker exits at end of input
            except OSError:
                pass
            proc.wait()
            with self._lock:
                self._live.discard(proc)


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
