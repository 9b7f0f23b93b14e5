"""The local launcher: a sweep's points in parallel worker processes on this machine.

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
By default a sweep runs one point per core, or per `point_cores` cores where each point trains
with several worker processes (word2vec's and fastText's `workers`); torch threads are split
between workers: cores // jobs each, at least 1.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.runs.grid import Point
from d2l_lab.runs.launchers.options import LauncherOptions
from d2l_lab.runs.sweep import Outcome, lost_point


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_job(cores: int, jobs: int) -> int:
    """Torch threads per worker, so `jobs` workers together use the cores without oversubscribing."""
    return max(1, cores // jobs)


class LocalLauncher:
    """`jobs` worker processes fed one point at a time; results arrive on `outcomes` as they finish.
    A worker is `worker_command THREADS` speaking the protocol of `d2l_lab.runs.worker`."""

    def __init__(self, options: LauncherOptions, worker_command: Sequence[str], point_function: Any):
        """`point_function` is for cluster launchers; here the workers run `run_point` themselves."""
        self.wanted_jobs, self.worker_command = options.jobs, list(worker_command)
        self.jobs = self.threads = 1
        self.point_cores = 1
        """Cores one point keeps busy (its training's worker processes), set before `connect`."""
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self._threads: list[threading.Thread] = []

    def connect(self, out_root: Path, points: int) -> str:
        """This machine shares its own disk: only the worker count and their threads to settle."""
        cores = available_cores()
        self.jobs = min(self.wanted_jobs or max(1, cores // self.point_cores), max(points, 1))
        self.threads = threads_per_job(cores, self.jobs)
        return f"{self.jobs} jobs x {self.threads} threads"

    def busy(self) -> bool:
        """Whether a worker may still deliver an outcome."""
        return any(t.is_alive() for t in self._threads) or not self.outcomes.empty()

    def start(self, work: Sequence[tuple[Point, dict[str, Any]]], sweep_dir: Path) -> None:
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
                result = lost_point(f"worker process died (exit code {proc.wait()})", self._stop.is_set())
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

    def close(self) -> None:
        """Nothing to release: each worker exits at the end of its input, or when we are gone."""
