"""A sweep worker: `python -m d2l_lab.runs.worker THREADS`, one process running points in turn.

Protocol: one JSON request per line on stdin, one JSON result per line on stdout (the real stdout
is kept for results only; anything else printed goes to stderr). A request is
`{"experiment", "config", "out", "command", "reuse": [...], "resume": [...]}` (candidates: runs
of the same config hash, `{"run_dir", "data_checksum"}`); the result is
`{"exit", "summary", "reused", "resumed", "messages", "error"}`.

Each point builds its task once: that gives the data checksum, so a completed run with the same
config hash is reused only if its data is the same too; otherwise an interrupted run of it is
resumed from its checkpoint (under a lock), or the same task is trained afresh.
Training goes through `runner.execute`, so a sweep point is an ordinary run in every respect.

Stopping: SIGINT (forwarded by the sweep) or the death of the sweep process (even by SIGKILL: the
worker watches its parent) only sets a flag; the running point stops at its next step boundary,
where the runner checkpoints it and marks it `interrupted`. Deferring to the boundary matters: an
interrupt in the middle of a step would save a half-applied step under the previous step number,
and the resumed run would no longer match an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

PARENT_POLL_S = 0.5
RESUME_LOCK = ".resume.lock"
EXIT_INTERRUPTED = 130

_stop = threading.Event()


class _StopsBetweenSteps:
    """The task, with a pending stop raised as KeyboardInterrupt at the start of a step, the one
    place where the runner's `checkpoint(step - 1)` is exactly the state after step - 1."""

    def __init__(self, task: Any):
        self._task = task

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def train_step(self, step: int) -> float:
        if _stop.is_set():
            raise KeyboardInterrupt
        return self._task.train_step(step)


def run_point(request: dict[str, Any]) -> dict[str, Any]:
    """Reuse, resume or train one point; errors come back in the result, never as exceptions."""
    from d2l_lab.errors import UserError

    stdout, stderr = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"exit": 0, "summary": None, "reused": False, "resumed": False, "error": None}
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            _run_point(request, result)
        if result["summary"] is None and result["exit"] != EXIT_INTERRUPTED:
            result["summary"] = json.loads(stdout.getvalue())
    except UserError as exc:
        result.update({"exit": 2, "error": str(exc)})
    except Exception:
        result.update({"exit": 1, "error": traceback.format_exc()})
    result["messages"] = stderr.getvalue()
    return result


def _run_point(request: dict[str, Any], result: dict[str, Any]) -> None:
    from d2l_lab.config.schema import from_dict
    from d2l_lab.devices import resolve_device
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.runner import RunOptions, execute, resume

    name = request["experiment"]
    spec = experiment(name)
    config = from_dict(spec.config_class, request["config"])
    task = _StopsBetweenSteps(spec.build_task()(config, resolve_device(config.device)))

    def built(_config: Any, _device: Any) -> Any:
        return task

    for candidate in request["reuse"]:
        if candidate["data_checksum"] == task.data_checksum:
            result.update(reused=True, summary=json.loads((Path(candidate["run_dir"]) / "summary.json").read_text()))
            return
    if _stop.is_set():  # asked to stop while the task was being built: start nothing
        result.update(exit=EXIT_INTERRUPTED)
        return
    options = RunOptions(out_root=Path(request["out"]), command=request["command"], quiet=True, json=True)
    for candidate in request["resume"]:
        if candidate["data_checksum"] == task.data_checksum:
            with _claim(Path(candidate["run_dir"])) as claimed:
                if claimed:
                    result.update(resumed=True, exit=resume(name, spec.config_class, Path(candidate["run_dir"]),
                                                            built, options))
                    return
    result["exit"] = execute(name, config, built, options)


@contextmanager
def _claim(run_dir: Path) -> Iterator[bool]:
    """Hold an exclusive lock on an interrupted run while resuming it, so two sweeps never both
    continue the same run; the kernel drops the lock if we die."""
    import fcntl

    with open(run_dir / RESUME_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            (run_dir / RESUME_LOCK).unlink(missing_ok=True)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _stop.set()


def main(argv: list[str]) -> int:
    threads = int(argv[0]) if argv else 1
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints must not corrupt the result stream
    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, lambda _signum, _frame: _stop.set())
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        for line in iter(sys.stdin.readline, ""):  # end of input: the sweep is done, or gone
            results.write(json.dumps(run_point(json.loads(line))) + "\n")
            results.flush()
            if _stop.is_set():
                return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
