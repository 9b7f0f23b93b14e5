"""`python -m d2l_lab.cli.sweep_worker THREADS`: the process a local sweep starts per job, and
`run_remote`, what a cluster launcher runs per point. Both live in the CLI layer because they look
experiments up in the registry; the work is `d2l_lab.runs.worker`."""

from __future__ import annotations

import sys
from typing import Any

from d2l_lab.experiments.registry import build
from d2l_lab.runs.worker import run_remote_point, serve

COMMAND = (sys.executable, "-m", "d2l_lab.cli.sweep_worker")
"""How `d2l sweep` starts a worker; the thread count is appended."""


def run_remote(request: dict[str, Any]) -> dict[str, Any]:
    """One point on a Ray worker or in a Slurm job: the same `run_point` a local worker calls."""
    return run_remote_point(request, build)


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1, build))
