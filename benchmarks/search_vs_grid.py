"""Search against grids and random search, as `d2l sweep` runs them (issue 26).

    python benchmarks/search_vs_grid.py [--rows a b] [--trials 30] [--w2v-trials 96] [--evals-per-epoch 2]
                                        [--jobs 2] [--seed 0] [--out DIR] [--smoke]

(a) optim on airfoil, adam, lr (log) x batch size: TPE with `--trials` trials against a 10 x 10
    grid over the same box. Target: TPE's best loss within 1% of the grid's best.
(b) word2vec on PTB (lr, window, negatives, subsample; 5 epochs per trial): TPE + median pruning
    against random search without pruning, `--w2v-trials` trials each, the two side by side (one
    core each at `--jobs 1`); the best trial of each is re-run on held-out seeds 5-7. Target: the
    same or better held-out WordSim-353 rho, with at most half the epochs trained in total. Both
    arms score WordSim-353 `--evals-per-epoch` times an epoch (`evals_per_epoch`: it reads the
    vectors, training is the same), so that the pruner can stop a trial within its first epoch.

Each sweep runs in a fresh output root (a temporary one, or `--out`, kept for `d2l report`), so
nothing is reused between the arms. The printed table is what docs/sweeps.md quotes. `--smoke`
(tests/test_benchmarks.py) runs row (a) alone, shrunk to a 2 x 2 grid, 2 trials and one epoch, to
check that the script still drives `d2l sweep`.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

LR_BOX, BATCH_BOX = (1e-4, 0.1), (5, 200)
W2V_SPACE = ("lr=log:0.005:0.1", "window=int:2:10", "negatives=int:2:15", "subsample=log:1e-5:1e-3")
W2V_EPOCHS = 5
HELD_OUT_SEEDS = "5,6,7"
METRIC = "wordsim353_rho"


def start(out: Path, experiment: str, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "d2l_lab", "sweep", experiment, *args, "--out", str(out), "--json", "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(started: subprocess.Popen) -> dict:
    stdout, stderr = started.communicate()
    if started.returncode != 0:
        sys.exit(f"sweep failed: {' '.join(started.args)}\n{stderr.strip()[-800:]}")
    return json.loads(stdout)


def sweep(out: Path, experiment: str, *args: str) -> dict:
    return finish(start(out, experiment, *args))


def best(rows: list[dict], metric: str, lower: bool) -> dict:
    scored = [r for r in rows if r["status"] == "completed" and isinstance(r["final"].get(metric), (int, float))]
    return (min if lower else max)(scored, key=lambda r: r["final"][metric])


def row_a(root: Path, trials: int, jobs: int, side: int = 10, *sets: str) -> tuple[str, float, str]:
    base = ("--set", "optimizer.algo=adam", "--set", "problem.name=airfoil", *sets, "--jobs", str(jobs))
    rates = ",".join(f"{LR_BOX[0] * (LR_BOX[1] / LR_BOX[0]) ** (i / (side - 1)):.6g}" for i in range(side))
    sizes = ",".join(str(round(BATCH_BOX[0] * (BATCH_BOX[1] / BATCH_BOX[0]) ** (i / (side - 1))))
                     for i in range(side))
    grid = sweep(root / "grid", "optim", *base, "--grid", f"lr={rates}", "--grid", f"batch-size={sizes}")
    tpe = sweep(root / "tpe", "optim", *base, "--space", f"lr=log:{LR_BOX[0]}:{LR_BOX[1]}",
                "--space", f"batch-size=int-log:{BATCH_BOX[0]}:{BATCH_BOX[1]}", "--trials", str(trials),
                "--search", "tpe", "--seed", "0")
    g, t = best(grid["results"], "loss", True)["final"]["loss"], best(tpe["results"], "loss", True)["final"]["loss"]
    ratio = t / g
    detail = f"grid {side * side} points best {g:.5f}; tpe {trials} trials best {t:.5f}"
    return "(a) airfoil adam: tpe best / grid best loss", ratio, f"{detail}; target <= 1.01: " + (
        "met" if ratio <= 1.01 else "NOT met")


def epochs_trained(out: Path, rows: list[dict]) -> float:
    total = 0.0
    for r in rows:
        if r["run_dir"]:
            summary = json.loads((out / r["run_dir"] / "summary.json").read_text())
            total += W2V_EPOCHS * summary["steps_done"] / summary["total_steps"]
    return total


def held_out(root: Path, name: str, params: dict, jobs: int) -> subprocess.Popen:
    sets = [item for k, v in params.items() for item in ("--grid", f"{k}={v}")]  # one value each: short names
    return start(root / f"{name}-heldout", "word2vec", *sets, "--set", f"word2vec.epochs={W2V_EPOCHS}",
                 "--grid", f"seed={HELD_OUT_SEEDS}", "--jobs", str(jobs))


def row_b(root: Path, trials: int, jobs: int, seed: int, evals_per_epoch: int) -> list[tuple[str, float, str]]:
    """The two arms run side by side (each with `--jobs`), then their best points' held-out runs."""
    arms = {"tpe+median": ("--search", "tpe", "--prune", "median"), "random": ("--search", "random")}
    space = [item for s in W2V_SPACE for item in ("--space", s)]
    searches = {name: start(root / name, "word2vec", *space, "--set", f"word2vec.epochs={W2V_EPOCHS}",
                            "--set", f"evals_per_epoch={evals_per_epoch}",
                            "--trials", str(trials), "--metric", METRIC, "--jobs", str(jobs), "--seed", str(seed),
                            *strategy) for name, strategy in arms.items()}
    done = {name: finish(started) for name, started in searches.items()}
    tops = {name: best(done[name]["results"], METRIC, False) for name in arms}
    checks = {name: held_out(root, name, tops[name]["values"], jobs) for name in arms}
    found = {}
    for name in arms:
        rows = done[name]["results"]
        found[name] = (statistics.mean(r["final"][METRIC] for r in finish(checks[name])["results"]),
                       epochs_trained(root / name, rows),
                       f"best {tops[name]['final'][METRIC]:.4f} at trial {tops[name]['point']}, " + ", ".join(
                           f"{n} {status}" for status, n in sorted(Counter(r["status"] for r in rows).items())))
    (tpe_rho, tpe_epochs, tpe_trials), (random_rho, random_epochs, random_trials) = found["tpe+median"], found["random"]
    return [("(b) word2vec PTB: held-out WS353 rho, tpe+median - random", tpe_rho - random_rho,
             f"tpe+median {tpe_rho:.4f} ({tpe_trials}), random {random_rho:.4f} ({random_trials}); target >= 0: "
             + ("met" if tpe_rho >= random_rho else "NOT met")),
            ("(b) word2vec PTB: epochs trained, tpe+median / random", tpe_epochs / random_epochs,
             f"{tpe_epochs:.1f} of {random_epochs:.1f} epochs; target <= 0.5: "
             + ("met" if tpe_epochs <= 0.5 * random_epochs else "NOT met"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=("a", "b"), default=["a", "b"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--w2v-trials", type=int, default=96, help="row (b): trials per arm")
    parser.add_argument("--evals-per-epoch", type=int, default=2, help="row (b): WordSim-353 scores per epoch")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="row (b): the samplers' seed (`d2l sweep --seed`)")
    parser.add_argument("--out", type=Path, help="keep the sweeps here (a new or empty directory)")
    parser.add_argument("--smoke", action="store_true", help="row (a) alone: a 2 x 2 grid, 2 trials, 1 epoch")
    args = parser.parse_args()
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"--out {args.out} is not empty: give a new or empty directory, so that no sweep is reused")
    lines = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) if args.out is None else args.out
        if args.smoke:
            lines.append(row_a(root / "a", 2, 1, 2, "--set", "train.epochs=1"))
        elif "a" in args.rows:
            lines.append(row_a(root / "a", args.trials, args.jobs))
        if "b" in args.rows and not args.smoke:
            lines += row_b(root / "b", args.w2v_trials, args.jobs, args.seed, args.evals_per_epoch)
    writer = csv.writer(sys.stdout, delimiter="|", lineterminator="\n")
    for name, ratio, detail in lines:
        writer.writerow([f" {name} ", f" {ratio:.4f} ", f" {detail} "])


if __name__ == "__main__":
    main()
