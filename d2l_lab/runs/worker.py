"""A sweep worker: `python -m d2l_lab.runs.worker THREADS`, one process running points in turn.

Protocol: one JSON request per line on stdin, one JSON result per line on stdout (the real stdout
is kept for results only; anything else printed goes to stderr). A request is
`{"experiment", "config", "out", "command", "reuse": [{"run_dir", "data_checksum"}]}`; the result
is `{"exit", "summary", "reused", "messages", "error"}`.

Each point builds its task once: that gives the data checksum, so a completed run with the same
config hash is reused only if its data is the same too, and otherwise the same task is trained.
Training goes through `runner.execute`, so a sweep point is an ordinary run in every respect.

When the sweep process dies (even by SIGKILL), the worker notices its parent is gone, interrupts
the running point (the runner checkpoints it and marks it `interrupted`) and exits at the next
read, so no orphan keeps burning the CPU.
"""

from __future__ import annotations

import _thread
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

PARENT_POLL_S = 0.5


def run_point(request: dict[str, Any]) -> dict[str, Any]:
    """Reuse a completed run of the same config and data, or train one; never raises a UserError."""
    from d2l_lab.config.schema import from_dict
    from d2l_lab.devices import resolve_device
    from d2l_lab.errors import UserError
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.runner import RunOptions, execute

    stdout, stderr = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"exit": 0, "summary": None, "reused": False, "error": None}
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            spec = experiment(request["experiment"])
            config = from_dict(spec.config_class, request["config"])
            device = resolve_device(config.device)
            task = spec.build_task()(config, device)
            for candidate in request["reuse"]:
                if candidate["data_checksum"] == task.data_checksum:
                    summary = json.loads((Path(candidate["run_dir"]) / "summary.json").read_text())
                    return {**result, "summary": summary, "reused": True, "messages": ""}
            options = RunOptions(out_root=Path(request["out"]), command=request["command"], quiet=True, json=True)
            result["exit"] = execute(request["experiment"], config, lambda _config, _device: task, options)
        result["summary"] = json.loads(stdout.getvalue())
    except UserError as exc:
        result.update({"exit": 2, "error": str(exc)})
    except KeyboardInterrupt:  # before the run loop started: nothing to save
        result.update({"exit": 130, "error": "interrupted before training started"})
    except Exception:
        result.update({"exit": 1, "error": traceback.format_exc()})
    result["messages"] = stderr.getvalue()
    return result


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _thread.interrupt_main()


def main(argv: list[str]) -> int:
    threads = int(argv[0]) if argv else 1
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints must not corrupt the result stream
    import torch

    torch.set_num_threads(threads)
    # The sweep decides when we are interrupted, even if it was started with SIGINT ignored (`cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        for line in iter(sys.stdin.readline, ""):
            result = run_point(json.loads(line))
            results.write(json.dumps(result) + "\n")
            results.flush()
            if result["exit"] == 130:
                return 130
    except (KeyboardInterrupt, BrokenPipeError):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
