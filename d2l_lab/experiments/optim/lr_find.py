"""Smith's learning-rate range test (`d2l run optim --lr-find`), as fastai's `lr_find` and
torch-lr-finder's `LRFinder.range_test` run it.

The lr rises exponentially from MIN_LR to MAX_LR over STEPS training steps of the chosen problem
and optimizer; the loss after each step, on all the data (airfoil's 1500 rows cost little, and a
minibatch's loss is noise at this scale), is smoothed exponentially (torch-lr-finder's
`smooth_f`), and the test ends once the smoothed loss passes DIVERGE times its best (the loss has
blown up). The suggestion is torch-lr-finder's: the lr at the steepest descent of the smoothed
curve (the most negative `np.gradient`, lr being evenly spaced on a log axis), the first
SKIP_START and last SKIP_END points left out. The run directory is a normal one: metrics.csv
holds (step, lr, loss, smoothed_loss), lr_find.png the curve, summary.json the suggestion.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import torch

STEPS = 100
MIN_LR, MAX_LR = 1e-6, 10.0
SMOOTHING = 0.05
"""Weight of the newest loss in the smoothed curve (torch-lr-finder's smooth_f)."""
DIVERGE = 5.0
"""The test stops once the smoothed loss exceeds this many times its best (torch-lr-finder's diverge_th)."""
SKIP_START, SKIP_END = 10, 5


def range_lr(step: int) -> float:
    """The lr of step `step` (1-based): MIN_LR at the first, MAX_LR at the last, geometric between."""
    return MIN_LR * (MAX_LR / MIN_LR) ** ((step - 1) / (STEPS - 1))


def suggested_lr(lrs: list[float], smoothed: list[float]) -> float | None:
    """The lr where the smoothed loss falls fastest, or None when too few points were recorded."""
    import numpy as np

    kept = smoothed[SKIP_START:len(smoothed) - SKIP_END]
    if len(kept) < 2:
        return None
    return float(lrs[SKIP_START + int(np.gradient(np.array(kept)).argmin())])


class RangeTestTask:
    """Wraps the problem's task: its data, parameters and optimizer; this class only sets the lr of
    each step and watches the loss. After the blow-up the remaining steps do nothing."""

    columns = ("step", "lr", "loss", "smoothed_loss")

    def __init__(self, inner: Any):
        self.inner = inner
        self.data_checksum = inner.data_checksum
        self.total_steps = STEPS
        self.checkpoint_every = STEPS // 4
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.stopped = False

    def initial_rows(self) -> list[dict[str, Any]]:
        return []

    def train_step(self, step: int) -> float:
        if self.stopped:
            return self.smoothed[-1]
        lr = range_lr(step)
        for group in self.inner.optimizer.param_groups:
            group["lr"] = lr
        self.inner.train_step(step)
        loss = self.inner._row(step)["loss"]  # on all the data: a minibatch's loss is too noisy to find a slope in
        smooth = loss if not self.smoothed else SMOOTHING * loss + (1 - SMOOTHING) * self.smoothed[-1]
        if not math.isfinite(smooth) or (self.smoothed and smooth > DIVERGE * min(self.smoothed)):
            self.stopped = True  # this step's loss is the blow-up: not recorded, the test ends
            return self.smoothed[-1] if self.smoothed else loss
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(smooth)
        return smooth

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        if self.stopped and len(self.lrs) < step:
            return []
        return [{"step": step, "lr": self.lrs[-1], "loss": self.losses[-1], "smoothed_loss": self.smoothed[-1]}]

    def suggestion(self) -> float | None:
        return suggested_lr(self.lrs, self.smoothed)

    def final_metrics(self, step: int) -> dict[str, Any]:
        return {"suggested_lr": self.suggestion(), "loss": min(self.smoothed, default=math.nan)}

    def notes(self) -> dict[str, Any]:
        suggested = self.suggestion()
        config = self.inner.config
        command = None
        if suggested is not None:
            problem = [] if config.problem.name == "airfoil" else ["--problem", config.problem.name]
            command = shlex.join(["d2l", "run", "optim", *problem, "--algo", config.optimizer.algo,
                                  "--lr", f"{suggested:.3g}"])
        return {**self.inner.notes(), "lr_find": {
            "min_lr": MIN_LR, "max_lr": MAX_LR, "steps": STEPS, "smoothing": SMOOTHING, "diverge": DIVERGE,
            "steps_recorded": len(self.lrs), "stopped_at_lr": self.lrs[-1] if self.stopped and self.lrs else None,
            "suggested_lr": suggested, "command": command}}

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "stopped": self.stopped,
                "curve": torch.tensor([self.lrs, self.losses, self.smoothed], dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.stopped = bool(state["stopped"])
        self.lrs, self.losses, self.smoothed = (list(row) for row in state["curve"].tolist())

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        from d2l_lab.experiments.optim import figures

        c = self.inner.optimizer_config
        title = (f"learning-rate range test: {c.algo} ({c.impl}) on {self.inner.config.problem.name}\n"
                 f"lr {MIN_LR:g} to {MAX_LR:g} over {STEPS} steps, stopped at the blow-up")
        figures.range_test_plot(run_dir / "lr_find.png", self.lrs, self.losses, self.smoothed, self.suggestion(),
                                title=title)

    def diverged_hint(self) -> str:
        return self.inner.diverged_hint()

    def warnings(self) -> list[str]:
        return [w for w in self.inner.warnings() if "exceeds" not in w]  # the lr is the test's, not --lr
