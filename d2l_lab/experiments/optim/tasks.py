"""The two kinds of optimization experiment in the book's chapter, as run-loop tasks.

`SurfaceTask` follows one point over a 2-D surface (the book's `train_2d`/`show_trace_2d`);
`AirfoilTask` fits linear regression to the airfoil data in minibatches (the book's `train_ch11`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from d2l_lab import plotting
from d2l_lab.experiments.optim import convergence
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.experiments.optim.surfaces import Surface, stability, surface
from d2l_lab.optimizers import build_optimizer, build_scheduler


class _OptimizerTask:
    """What both tasks share: optimizer, schedule, checkpointed state and the lr hints."""

    def __init__(self, config: OptimRunConfig, params: list[torch.Tensor], total_steps: int,
                 lambda_max: float | None):
        self.config = config
        self.params = params
        self.optimizer_config = config.optimizer.resolved()
        self.optimizer = build_optimizer(params, self.optimizer_config)
        self.scheduler = build_scheduler(self.optimizer, config.schedule, total_steps)
        self.total_steps = total_steps
        self.max_stable_lr = None if lambda_max is None else self.optimizer_config.max_stable_lr(lambda_max)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def optimize(self, loss: torch.Tensor) -> float:
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss.item()

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": [p.detach().cpu().clone() for p in self.params],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for param, saved in zip(self.params, state["params"]):
                param.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def warnings(self) -> list[str]:
        lr = self.optimizer_config.lr
        if self.max_stable_lr is not None and lr > self.max_stable_lr:
            return [f"lr {lr:g} exceeds {self.max_stable_lr:.4g}, the largest stable {self.optimizer_config.algo} "
                    "step on this problem's steepest direction: expect divergence there"]
        return []

    def settings(self) -> str:
        """`momentum (scratch): lr 0.6, momentum 0.5`: every hyper-parameter the update uses (a
        weight decay of 0 left out), and the schedule when the lr is not constant; for titles."""
        c = self.optimizer_config
        hyper = [f"{name} {value:g}" for name, value in c.hyperparameters().items()
                 if not (name == "weight_decay" and value == 0)]
        schedule = self.config.schedule.resolved()
        if schedule.name != "constant":
            knobs = " ".join(f"{k} {getattr(schedule, k):g}" for k in ("factor", "step_size", "min_lr_ratio")
                             if k not in schedule.unused_fields())
            hyper.append(f"{schedule.name} schedule ({knobs})" if knobs else f"{schedule.name} schedule")
        return f"{c.algo} ({c.impl}): {', '.join(hyper)}"

    def diverged_hint(self) -> str:
        lr = self.optimizer_config.lr
        if self.max_stable_lr is not None:
            return (f"the largest stable {self.optimizer_config.algo} learning rate here is "
                    f"{self.max_stable_lr:.4g}: try --lr {_round_down(self.max_stable_lr * 0.9)}")
        return f"try a smaller --lr than {lr:g}"


class SurfaceTask(_OptimizerTask):
    columns = ("step", "x1", "x2", "loss", "lr")
    data_checksum = None

    def __init__(self, config: OptimRunConfig, device: torch.device):
        self.surface: Surface = surface(config.problem.name, config.problem.coefficients)
        start = config.problem.start or self.surface.default_start
        dtype = getattr(torch, config.problem.dtype)
        self.x = torch.tensor(start, dtype=dtype, device=device, requires_grad=True)
        diagonal = self.surface.hessian_diagonal
        self.stability = stability(diagonal) if diagonal else None
        lambda_max = max(self.stability["hessian_eigenvalues"]) if self.stability else None
        super().__init__(config, [self.x], config.train.steps, lambda_max)
        self.checkpoint_every = max(1, self.total_steps // 10)
        self.theory = convergence.theory_for(config, diagonal)
        self.offsets: list[tuple[float, float]] = []
        """x_k - x* at each step, kept (and checkpointed) only where `theory` measures a rate."""

    def warnings(self) -> list[str]:
        ignored = [] if self.config.seed == 0 else [
            f"seed {self.config.seed} changes nothing on the {self.surface.name}: a 2-D surface run starts "
            "from a fixed point and draws no random numbers"]
        return [*super().warnings(), *ignored]

    def _value(self) -> torch.Tensor:
        return self.surface.function(self.x[0], self.x[1])

    def _row(self, step: int) -> dict[str, Any]:
        with torch.no_grad():
            x1, x2 = (float(v) for v in self.x.cpu())
            return {"step": step, "x1": x1, "x2": x2, "loss": float(self._value()), "lr": self.lr}

    def initial_rows(self) -> list[dict[str, Any]]:
        return self.evaluate(0)

    def train_step(self, step: int) -> float:
        return self.optimize(self._value())

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        row = self._row(step)
        if self.theory is not None:
            self.offsets.append((row["x1"] - self.surface.minimum[0], row["x2"] - self.surface.minimum[1]))
        return [row]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.theory is not None:
            state["offsets"] = torch.tensor(self.offsets, dtype=torch.float64).reshape(-1, 2)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.theory is not None and isinstance(state.get("offsets"), torch.Tensor):
            self.offsets = [tuple(row) for row in state["offsets"].tolist()]

    def final_metrics(self, step: int) -> dict[str, Any]:
        row = self._row(step)
        distance = math.dist((row["x1"], row["x2"]), self.surface.minimum)
        return {"x1": row["x1"], "x2": row["x2"], "loss": row["loss"], "distance_to_minimum": distance}

    def notes(self) -> dict[str, Any]:
        notes = {"problem": self.surface.name, "minimum": list(self.surface.minimum), **(self.stability or {})}
        if self.theory is not None:
            t = self.theory
            measured = convergence.measured_rate(t["algo"], t["lr"], t.get("momentum", 0.0),
                                                 [d["eigenvalue"] for d in t["directions"]], self.offsets)
            notes["convergence"] = {**t, "measured_rate": measured}
        return notes

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        path = [(float(r["x1"]), float(r["x2"])) for r in rows]
        plotting.trajectory_plot(run_dir / "trajectory.png", self.surface.function, path, self.surface.view,
                                 title=self._title(), minimum=self.surface.minimum,
                                 log_levels=self.surface.log_levels, marked=self.surface.marked)
        plotting.curve_plot(run_dir / "loss.png", {self.settings(): ([r["step"] for r in rows], [r["loss"] for r in rows])},
                            xlabel="step", ylabel="f(x)", log_y=True, integer_x=True, title=self._title())
        if self.theory is not None:
            from d2l_lab.experiments.optim import figures

            problem = self.config.problem
            figures.convergence_plot(run_dir / "convergence.png", self.theory, rows,
                                     start=problem.start or self.surface.default_start,
                                     minimum=self.surface.minimum, title=self._title())

    def _title(self) -> str:
        """Two lines: the optimizer's settings, then the problem (function, start, steps)."""
        problem = self.config.problem
        if self.surface.name == "quadratic":
            a, b = problem.coefficients
            function = f"f = {a:g}*x1^2 + {b:g}*x2^2"
        else:
            function = self.surface.name
        start = ", ".join(f"{v:g}" for v in (problem.start or self.surface.default_start))
        return f"{self.settings()}\n{function} from ({start}), {self.total_steps} steps"


class AirfoilTask(_OptimizerTask):
    columns = ("step", "epoch", "examples", "loss", "lr")

    def __init__(self, config: OptimRunConfig, device: torch.device):
        from d2l_lab.datasets.airfoil import airfoil_checksum, load_airfoil

        dtype = getattr(torch, config.problem.dtype)
        features, targets = load_airfoil(config.problem.examples, dtype=dtype)
        self.features, self.targets = features.to(device), targets.to(device).reshape(-1, 1)
        self.data_checksum = airfoil_checksum()
        self.n = len(self.features)
        self.batch_size = config.train.batch_size
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        generator = torch.Generator().manual_seed(config.seed)
        self.w = torch.normal(0.0, 0.01, (self.features.shape[1], 1), generator=generator, dtype=dtype).to(device)
        self.b = torch.zeros(1, dtype=dtype, device=device)
        self.w.requires_grad_(True)
        self.b.requires_grad_(True)
        self.stability = self._stability()
        super().__init__(config, [self.w, self.b], config.train.epochs * self.steps_per_epoch,
                         max(self.stability["hessian_eigenvalues"]))
        self.checkpoint_every = self.steps_per_epoch
        self._order: tuple[int, torch.Tensor] | None = None

    def _stability(self) -> dict[str, Any]:
        """Curvature of the mean squared loss / 2: its Hessian is A^T A / n with A = [X, 1]."""
        design = torch.cat([self.features, torch.ones_like(self.targets)], dim=1).double().cpu()
        return stability(torch.linalg.eigvalsh(design.T @ design / self.n).tolist())

    def _loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((features @ self.w + self.b - targets) ** 2 / 2).mean()

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """Each epoch's shuffle is drawn from (seed, epoch) alone, so a resumed run matches."""
        if self._order is None or self._order[0] != epoch:
            order = np.random.default_rng([self.config.seed, epoch]).permutation(self.n)
            self._order = (epoch, torch.from_numpy(order).to(self.features.device))
        return self._order[1]

    def _examples_seen(self, step: int) -> int:
        epoch, index = divmod(step - 1, self.steps_per_epoch)
        return epoch * self.n + min((index + 1) * self.batch_size, self.n)

    def _row(self, step: int) -> dict[str, Any]:
        with torch.no_grad():
            loss = self._loss(self.features, self.targets).item()
        examples = self._examples_seen(step) if step else 0
        return {"step": step, "epoch": examples / self.n, "examples": examples, "loss": loss, "lr": self.lr}

    def initial_rows(self) -> list[dict[str, Any]]:
        return [self._row(0)]

    def train_step(self, step: int) -> float:
        epoch, index = divmod(step - 1, self.steps_per_epoch)
        batch = self._epoch_order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return self.optimize(self._loss(self.features[batch], self.targets[batch]))

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        if self._examples_seen(step) % self.config.train.eval_every == 0 or step == self.total_steps:
            return [self._row(step)]
        return []

    def final_metrics(self, step: int) -> dict[str, Any]:
        return {"loss": self._row(step)["loss"], "steps": step}

    def notes(self) -> dict[str, Any]:
        return {"problem": "airfoil", "examples": self.n, **self.stability}

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        title = (f"{self.settings()}\nairfoil linear regression, {self.n} examples, batch {self.batch_size}, "
                 f"{self.config.train.epochs} epochs")
        plotting.curve_plot(run_dir / "loss.png", {self.settings(): ([r["epoch"] for r in rows], [r["loss"] for r in rows])},
                            xlabel="epoch", ylabel="loss on all examples", log_y=False, title=title)


def build_task(config: OptimRunConfig, device: torch.device, progress: Any = None) -> Any:
    """The problem's task, or its learning-rate range test (`lr_find`); `progress` is unused: the
    airfoil data is small and bundled."""
    task = AirfoilTask(config, device) if config.problem.name == "airfoil" else SurfaceTask(config, device)
    if config.lr_find:
        from d2l_lab.experiments.optim.lr_find import RangeTestTask

        return RangeTestTask(task)
    return task


def _round_down(value: float) -> str:
    """A readable learning rate just below `value` (two significant digits)."""
    exponent = math.floor(math.log10(value)) - 1
    return f"{math.floor(value / 10**exponent) * 10**exponent:.{max(0, -exponent)}f}"
