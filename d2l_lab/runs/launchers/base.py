"""What a launcher is, and what the cluster launchers share.

A launcher is built from its options, then `connect`ed (reach the cluster, check the output root
is shared) before the sweep directory exists, so a bad address or a root the workers cannot see
leaves nothing behind. `start` hands it every point's request; outcomes arrive on `outcomes` as
points finish, in any order; `interrupt` is the first Ctrl-C (running points checkpoint, nothing
more starts), `close` releases everything (after a second Ctrl-C: cancels what is still out).

`RemoteLauncher` is the part Ray and Slurm have in common: submit every point at once (the engine
schedules them; with `--jobs N`, N at a time, as a search needs), watch for results in a thread, turn a lost worker into a `failed` row, stop
points through a stop file. A subclass only says how to submit one request, collect finished
ones, cancel, and probe the workers.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.grid import Point
from d2l_lab.runs.launchers.options import LauncherOptions
from d2l_lab.runs.sweep import Outcome, lost_point

POLL_S = 0.5
WORKERS_DIR = ".workers"
"""In the sweep directory: one marker per running point, `{"host", "pid"}`."""
PROBE_PREFIX = ".d2l-probe-"
TEST_WORKER_ROOT = "D2L_LAB_TEST_WORKER_ROOT"
"""Tests only: a worker that sees this variable writes its probe marker under that directory
instead of OUT, as a node that mounts another filesystem at OUT's path would."""


class Launcher(Protocol):
    outcomes: queue.Queue[Outcome]

    def connect(self, out_root: Path, points: int) -> str:
        """Reach the workers and check they share `out_root`; returns how points will run, in words."""

    def start(self, work: Sequence[tuple[Point, dict[str, Any]]], sweep_dir: Path) -> None: ...

    def busy(self) -> bool:
        """Whether an outcome may still arrive."""

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def write_marker(path: str, token: str) -> dict[str, str | None]:
    """Run on a worker: write `token` to `path` (under OUT); the driver then reads it back."""
    target = Path(path)
    if os.environ.get(TEST_WORKER_ROOT):
        target = Path(os.environ[TEST_WORKER_ROOT]) / target.name
    try:
        atomic_write_text(target, token)
    except OSError as exc:
        return {"host": socket.gethostname(), "error": f"{exc.strerror or exc}"}
    return {"host": socket.gethostname(), "error": None}


class RemoteLauncher:
    """Submit every point to a cluster engine; see the module docstring."""

    kind = "remote"

    def __init__(self, options: LauncherOptions, worker_command: Sequence[str], point_function: Any):
        self.options, self.point_function = options, point_function
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self._pending: dict[Any, Point] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        self._stop_file: Path | None = None
        self._workers: Path | None = None
        self._work: Any = iter(())
        self._sweep_dir = Path()

    # --- what each engine provides
    def _open(self) -> str:
        """Reach the engine; returns how points will run, in words."""
        raise NotImplementedError

    def _probe(self, out_root: Path, token: str) -> list[tuple[Path, dict[str, str | None]]]:
        """Run `write_marker(probe_path(out_root, token, i), token)` on the workers (one per node
        where the engine can tell nodes apart) and wait; returns (path, answer) pairs."""
        raise NotImplementedError

    def _submit(self, requests: list[dict[str, Any]], sweep_dir: Path) -> list[Any]:
        raise NotImplementedError

    def _finished(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any] | BaseException]]:
        """Handles done now, each with its result or the error that lost it; waits up to POLL_S."""
        raise NotImplementedError

    def _cancel(self, handles: list[Any], running_too: bool) -> None:
        """Withdraw queued points (and, with `running_too`, kill running ones)."""
        raise NotImplementedError

    def _shutdown(self) -> None:
        """Release the engine."""

    # --- shared
    def connect(self, out_root: Path, points: int) -> str:
        described = self._open()
        token = secrets.token_hex(8)
        created = not out_root.exists()
        out_root.mkdir(parents=True, exist_ok=True)  # where the workers write their markers
        shared = False
        try:
            for path, answer in self._probe(out_root, token):
                _check_marker(out_root, path, token, answer, self.kind)
            shared = True
        finally:
            for path in out_root.glob(f"{PROBE_PREFIX}{token}-*"):
                if path.is_file():
                    path.unlink()
            if created and not shared:  # a refusal leaves nothing behind
                with contextlib.suppress(OSError):
                    out_root.rmdir()
        return described

    def start(self, work: Sequence[tuple[Point, dict[str, Any]]], sweep_dir: Path) -> None:
        self._stop_file = sweep_dir / f".stop-{secrets.token_hex(4)}"
        self._workers = sweep_dir / WORKERS_DIR
        self._workers.mkdir(exist_ok=True)
        self._work, self._sweep_dir = iter(work), sweep_dir
        self._submit_more()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _submit_more(self) -> None:
        """Submit points until `jobs` are out (`--jobs`; by default all of them at once, and the
        engine schedules them). A search's points are asked one at a time as slots free."""
        batch: list[tuple[Point, dict[str, Any]]] = []
        while not self._stopping.is_set() and (self.options.jobs is None
                                               or len(self._pending) + len(batch) < self.options.jobs):
            item = next(self._work, None)
            if item is None:
                break
            batch.append(item)
        assert self._workers is not None
        requests = [{**request, "remote": {"stop_file": str(self._stop_file), "threads": self.options.cpus_per_run,
                                           "marker": str(self._workers / f"point-{point.index}.json")}}
                    for point, request in batch]
        handles = self._submit(requests, self._sweep_dir) if requests else []
        with self._lock:
            self._pending.update(zip(handles, (point for point, _ in batch)))

    def _watch(self) -> None:
        while True:
            with self._lock:
                handles = list(self._pending)
            if not handles and not self._stopping.is_set():
                self._submit_more()
                with self._lock:
                    handles = list(self._pending)
            if not handles or self._closed.is_set():
                return
            try:
                finished = self._finished(handles)
            except Exception:
                if self._closed.is_set():  # closed under our feet (a second Ctrl-C): nobody waits
                    return
                raise
            for handle, result in finished:
                with self._lock:
                    point = self._pending.pop(handle)
                if isinstance(result, BaseException):
                    reason = (str(result).strip().splitlines() or [type(result).__name__])[0]
                    result = lost_point(f"{self.kind} worker lost ({type(result).__name__}: {reason[:200]})",
                                        self._stopping.is_set())
                self.outcomes.put(Outcome(point, result))
            if finished and self.options.jobs is not None:
                self._submit_more()

    def busy(self) -> bool:
        return (self._watcher is not None and self._watcher.is_alive()) or not self.outcomes.empty()

    def interrupt(self) -> None:
        """Running points see the stop file at their next step and checkpoint; queued ones are
        withdrawn where the engine can tell them apart, or start and stop at once."""
        self._stopping.set()
        if self._stop_file is not None:
            atomic_write_text(self._stop_file, "stop\n")
        with self._lock:
            handles = list(self._pending)
        self._cancel(handles, running_too=False)

    def close(self) -> None:
        with self._lock:
            handles = list(self._pending)
        if handles:  # a second Ctrl-C: nothing waits for these any more
            self._stopping.set()
            self._cancel(handles, running_too=True)
        if self._stop_file is not None:
            self._stop_file.unlink(missing_ok=True)
        if self._workers is not None and not handles:
            shutil.rmtree(self._workers, ignore_errors=True)
        self._closed.set()
        self._shutdown()


def _check_marker(out_root: Path, path: Path, token: str, answer: dict[str, str | None], kind: str) -> None:
    host = answer.get("host") or "?"
    if answer.get("error"):
        raise UserError(f"--out '{out_root}' is not writable from a {kind} worker on {host} "
                        f"({answer['error']}): put --out on a filesystem every worker mounts, writable")
    try:
        seen = path.read_text(encoding="utf-8")
    except OSError:
        seen = None
    if seen != token:
        raise UserError(f"--out '{out_root}' is not shared with the {kind} workers: a worker on {host} wrote a "
                        "marker there that this machine cannot see; put --out on a filesystem every node "
                        "mounts at the same path")


def probe_path(out_root: Path, token: str, index: int) -> Path:
    return out_root / f"{PROBE_PREFIX}{token}-{index}"
