"""A sweep worker: one process running points in turn (its entry point, which knows the
experiments, is `python -m d2l_lab.cli.sweep_worker THREADS`).

Protocol: one JSON request per line on stdin, one JSON result per line on stdout (the real stdout
is kept for results only; anything else printed goes to stderr). A request is
`{"experiment", "config", "out", "command", "exclude": [...]}` (`exclude`: names of run
directories never to reuse or resume); the result is
`{"exit", "summary", "reused", "resumed", "messages", "error"}`. A search's point also carries
`"trial"` (the study's file, trial id, metric, pruner): it reports its curve to the trial, may be
pruned, and tells the study how it ended (`d2l_lab.runs.search_trial`).

Each point builds its task once: that gives the data checksum, so a completed run with the same
config hash is reused only if its data is the same too; otherwise an interrupted run of it is
resumed from its checkpoint, or the same task is trained afresh. A run of the point that another
process is training outside any sweep (`d2l run`, `--resume`: it holds the run's writer lock,
`d2l_lab.runs.writer`, but not the point's) is never trained twice: the point is refused (exit 2)
naming the run and that process; re-issue the sweep once it has ended.

Claiming: a point is run under an exclusive `fcntl` lock on
`OUT/.point-locks/<experiment>-<config hash>.lock`, and the runs of it under OUT (completed,
interrupted, running) are looked up once it is held. Two sweeps (or two identical ones started together) that share
a point therefore run it once: the second waits, then reuses the first one's run. Under `--force`
the request excludes the runs that existed when the sweep started, not those made since, so two
forced sweeps started together also run each point once.
Training goes through `runner.execute`, so a sweep point is an ordinary run in every respect.

On a cluster (`run_remote_point`: a Ray task, a Slurm job) the same `run_point` runs; the sweep
asks it to stop by creating a stop file in the sweep directory (signals do not cross machines),
and the point writes a marker naming its host and pid while it runs.

Stopping: SIGINT (forwarded by the sweep), SIGTERM or SIGHUP, any number of them, or the death of
the sweep process (even by SIGKILL: the worker watches its parent) only sets a flag, which is the
runner's `should_stop`: the running point stops at its next step boundary, where the runner
checkpoints it and marks it `interrupted`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.errors import UserError
from d2l_lab.runs.events import Event, Warned

PARENT_POLL_S = 0.5
POINT_LOCKS = ".point-locks"
"""Directory of the per-point locks, inside OUT (lock files are kept: deleting a lock file that
another process may have opened would let two holders in)."""
LOCK_POLL_S = 0.2
STOP_POLL_S = 0.5

Build = Callable[[str, dict[str, Any]], tuple[Any, Callable[[Any, Any], Any]]]
"""(experiment name, config dict) -> (validated config, task builder)."""


def run_point(request: dict[str, Any], build: Build, should_stop: Callable[[], bool]) -> dict[str, Any]:
    """Reuse, resume or train one point; errors come back in the result, never as exceptions."""
    warnings: list[str] = []
    trial: Any = None
    """A search's trial (`request["trial"]`, `d2l_lab.runs.search_trial`): hears the curve, may prune."""

    def collect(event: Event) -> None:
        if isinstance(event, Warned):
            warnings.append(f"warning: {event.message}")
        if trial is not None:
            trial.observe(event)

    result: dict[str, Any] = {"exit": exit_codes.OK, "summary": None, "reused": False, "resumed": False,
                              "error": None}
    try:
        if request.get("trial"):
            from d2l_lab.runs.search_trial import TrialLink

            trial = TrialLink(request["trial"])
            should_stop = trial.stopping(should_stop)
        _run_point(request, result, build, should_stop, collect)
    except UserError as exc:
        result.update({"exit": exit_codes.BAD_INPUT, "error": str(exc)})
    except Exception:
        result.update({"exit": exit_codes.INTERNAL, "error": traceback.format_exc()})
    if trial is not None:
        try:
            trial.finish(result, request["experiment"])
        except Exception:
            result.update({"exit": exit_codes.INTERNAL, "error": traceback.format_exc()})
    result["messages"] = "".join(f"{line}\n" for line in warnings)
    return result


def _run_point(request: dict[str, Any], result: dict[str, Any], build: Build, should_stop: Callable[[], bool],
               collect: Callable[[Event], None]) -> None:
    from d2l_lab.devices import resolve_device

    name = request["experiment"]
    config, build_task = build(name, request["config"])
    task = build_task(config, resolve_device(config.device), lambda done, total: None)  # no reading bar in sweeps

    def built(_config: Any, _device: Any, _progress: Any) -> Any:
        return task

    with _point_lock(Path(request["out"]), name, request["config"], should_stop, collect) as held:
        if not held:  # asked to stop while another process held the point
            result.update(exit=exit_codes.INTERRUPTED)
            return
        _run_claimed(request, result, config, task, built, should_stop, collect)


def _run_claimed(request: dict[str, Any], result: dict[str, Any], config: Any, task: Any, built: Any,
                 should_stop: Callable[[], bool], collect: Callable[[Event], None]) -> None:
    from d2l_lab.runs.runner import RunOptions, execute, resume

    name = request["experiment"]
    for candidate in _runs_now(request, "completed"):
        if candidate["data_checksum"] == task.data_checksum:
            result.update(reused=True, summary=json.loads((Path(candidate["run_dir"]) / "summary.json").read_text()))
            return
    if should_stop():  # asked to stop while the task was being built: start nothing
        result.update(exit=exit_codes.INTERRUPTED)
        return
    for candidate in [*_runs_now(request, "interrupted"), *_runs_now(request, "running")]:
        if candidate["data_checksum"] == task.data_checksum:
            # `resume` takes the run's writer lock first: a run another process trains is refused
            run = resume(name, type(config), Path(candidate["run_dir"]), built, should_stop=should_stop,
                         subscribers=[collect])
            result.update(resumed=True, exit=run.exit_code, summary=run.summary)
            return
    options = RunOptions(out_root=Path(request["out"]), command=request["command"])
    run = execute(name, config, built, options, should_stop=should_stop, subscribers=[collect])
    result.update(exit=run.exit_code, summary=run.summary)


def _runs_now(request: dict[str, Any], status: str) -> list[dict[str, Any]]:
    """Runs of this point's config under OUT with `status` as they are now, with the point's lock
    held, except those the request excludes: `completed` to reuse, `interrupted` (with a
    checkpoint) to resume, `running`, those another process trains (their writer lock is held)
    outside any sweep, to refuse by name. Looked up here rather than when the sweep starts: another
    sweep may finish the point while we wait for its lock, and a killed sweep's worker checkpoints
    its point as it ends, perhaps after the re-issued sweep has started."""
    from d2l_lab.runs.catalog import by_config
    from d2l_lab.runs.rundir import config_hash

    runs = by_config(Path(request["out"]), request["experiment"], status).get(config_hash(request["config"]), [])
    exclude = set(request.get("exclude", ()))
    return [{"run_dir": str(r.path), "data_checksum": r.summary.get("data_checksum")} for r in runs
            if r.path.name not in exclude]


@contextmanager
def _point_lock(out: Path, experiment: str, config: dict[str, Any], should_stop: Callable[[], bool],
                collect: Callable[[Event], None] = lambda event: None) -> Iterator[bool]:
    """Hold the point's lock (see the module docstring), waiting for it while not asked to stop;
    yields False when asked to stop first. The kernel drops the lock if we die. On a filesystem
    without locks the point goes on unlocked, with a warning (`d2l_lab.runs.writer`)."""
    from d2l_lab.runs.rundir import config_hash
    from d2l_lab.runs.writer import try_lock, unlock, unsupported

    folder = out / POINT_LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{experiment}-{config_hash(config)}.lock", "a") as lock:
        while (taken := try_lock(lock.fileno())) is False:
            if should_stop():
                yield False
                return
            time.sleep(LOCK_POLL_S)
        if taken is None:
            collect(Warned(unsupported(out)))
        try:
            yield True
        finally:
            unlock(lock.fileno())


def _watch_parent(parent: int, stop: threading.Event) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    stop.set()


def run_remote_point(request: dict[str, Any], build: Build) -> dict[str, Any]:
    """One point on a cluster worker; `request["remote"]` holds `stop_file`, `threads` and
    `marker` (see the module docstring). A point asked to stop before it starts builds nothing."""
    import socket

    from d2l_lab.files import atomic_write_text

    remote = request["remote"]
    should_stop = _stop_file_flag(Path(remote["stop_file"]))
    if should_stop():
        return {"exit": exit_codes.INTERRUPTED, "summary": None, "reused": False, "resumed": False,
                "messages": "", "error": None}
    import torch

    torch.set_num_threads(remote["threads"])
    marker = Path(remote["marker"])
    atomic_write_text(marker, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}) + "\n")
    try:
        return run_point(request, build, should_stop)
    finally:
        marker.unlink(missing_ok=True)


def _stop_file_flag(path: Path) -> Callable[[], bool]:
    """`should_stop` for a remote point: whether `path` exists, looked at most every STOP_POLL_S
    (a shared filesystem is slow to ask); once seen, it stays seen."""
    seen, last = False, 0.0

    def should_stop() -> bool:
        nonlocal seen, last
        if not seen and time.monotonic() - last >= STOP_POLL_S:
            last = time.monotonic()
            seen = path.exists()
        return seen

    return should_stop


def serve(threads: int, build: Build) -> int:
    """Answer requests from stdin until it closes (the sweep is done, or gone) or we are stopped."""
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints must not corrupt the result stream
    import torch

    torch.set_num_threads(threads)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # however many: never a death mid-write
        signal.signal(number, lambda _signum, _frame: stop.set())
    threading.Thread(target=_watch_parent, args=(os.getppid(), stop), daemon=True).start()
    try:
        for line in iter(sys.stdin.readline, ""):
            results.write(json.dumps(run_point(json.loads(line), build, stop.is_set)) + "\n")
            results.flush()
            if stop.is_set():
                return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return exit_codes.INTERRUPTED
    return exit_codes.OK
