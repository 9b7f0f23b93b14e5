"""Points per second of one quick-point sweep on the local launcher and on the Ray launcher.

    python benchmarks/sweep_launchers.py [--points 200] [--steps 2] [--address HOST:PORT]

The same grid (`--points` learning rates on the quadratic, `--steps` steps each) runs as
`d2l sweep optim` with `--launcher local` (one worker per core) and then `--launcher ray` (a
local Ray instance started for the sweep, or the cluster at `--address`), each in a fresh output
root. The wall time is the whole command's, as a user sees it: start-up (torch imports, Ray's
start), validation, every point, results.csv. A quick point is mostly its run directory's files
and plots, so this measures what a launcher adds per point, not training speed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_sweep(out: Path, points: int, steps: int, launcher_args: list[str]) -> float:
    """Wall seconds of one sweep; checks that every point completed."""
    rates = ",".join(f"{0.001 * i:.3f}" for i in range(1, points + 1))
    command = [sys.executable, "-m", "d2l_lab", "sweep", "optim", "--grid", f"lr={rates}", "--set",
               "problem.name=quadratic", "--set", f"train.steps={steps}", "--out", str(out), "--quiet",
               *launcher_args]
    env = {**os.environ}
    env.setdefault("RAY_AUTH_MODE", "disabled")  # a new local instance would otherwise write ~/.ray/auth_token
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(launcher_args)}): {done.stderr.strip()[-500:]}")
    (sweep_dir,) = (out / "sweeps").iterdir()
    with open(sweep_dir / "results.csv") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != points or {r["status"] for r in rows} != {"completed"}:
        sys.exit(f"sweep {' '.join(launcher_args)}: {len(rows)} rows, statuses {sorted({r['status'] for r in rows})}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--address", help="a running Ray cluster (default: a local instance for the sweep)")
    args = parser.parse_args()
    ray_args = ["--launcher", "ray", *(["--address", args.address] if args.address else [])]
    with tempfile.TemporaryDirectory() as root:
        local = run_sweep(Path(root) / "local", args.points, args.steps, ["--launcher", "local"])
        ray = run_sweep(Path(root) / "ray", args.points, args.steps, ray_args)
    print(f"{'launcher':<10}{'wall s':>10}{'points/s':>10}")
    for name, wall in (("local", local), ("ray", ray)):
        print(f"{name:<10}{wall:>10.1f}{args.points / wall:>10.2f}")
    print(f"ray / local points/s: {local / ray:.2f}  ({args.points} points, {args.steps} steps, "
          f"{os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
