"""`python -m d2l_lab.cli.sweep_worker THREADS`: the process a sweep starts per job. It lives in
the CLI layer because it looks experiments up in the registry; the work is `d2l_lab.runs.worker`."""

from __future__ import annotations

import sys

from d2l_lab.experiments.registry import build
from d2l_lab.runs.worker import serve

COMMAND = (sys.executable, "-m", "d2l_lab.cli.sweep_worker")
"""How `d2l sweep` starts a worker; the thread count is appended."""

if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1, build))
