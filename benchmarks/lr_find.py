"""Does the range test's suggested lr train well? `d2l run optim --lr-find` against a sweep.

    python benchmarks/lr_find.py [--algos adam sgd] [--points 13]

Per algorithm on airfoil (the preset's budget: batch 10, 2 epochs, seed 0): the range test's
suggested lr (lr_find.py, the same task `--lr-find` runs), then the final loss of a full run at
that lr and at each of `--points` learning rates spaced evenly on a log axis from 1e-4 to 1. The
table gives the suggestion's final loss / the sweep's best (the target is <= 1.05).
The runs are built and stepped directly (no run directories or plots), as the run loop steps them.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.experiments.optim.tasks import build_task
from d2l_lab.optimizers.config import OptimizerConfig


def final_loss(algo: str, lr: float | None, lr_find: bool = False) -> float:
    """The task's final loss after all its steps (or the range test's suggested lr)."""
    config = OptimRunConfig(optimizer=OptimizerConfig(algo=algo, lr=lr), lr_find=lr_find, device="cpu").resolved()
    task = build_task(config, torch.device("cpu"))
    for step in range(1, task.total_steps + 1):
        task.train_step(step)
    metrics = task.final_metrics(task.total_steps)
    return metrics["suggested_lr"] if lr_find else metrics["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["adam", "sgd"])
    parser.add_argument("--points", type=int, default=13)
    args = parser.parse_args()
    print("| algo | suggested lr | its final loss | best of the sweep (lr) | ratio |")
    print("|---|---|---|---|---|")
    for algo in args.algos:
        suggested = final_loss(algo, None, lr_find=True)
        mine = final_loss(algo, suggested)
        sweep = {float(lr): final_loss(algo, float(lr)) for lr in np.logspace(-4, 0, args.points)}
        finite = {lr: v for lr, v in sweep.items() if math.isfinite(v)}
        best_lr = min(finite, key=finite.get)
        print(f"| {algo} | {suggested:.3g} | {mine:.4f} | {finite[best_lr]:.4f} ({best_lr:.3g}) | "
              f"{mine / finite[best_lr]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
