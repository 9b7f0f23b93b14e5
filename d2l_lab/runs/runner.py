"""One run, start to finish: run directory, generic training loop, checkpoints, summary.

Every experiment goes through `execute`, so every run directory has the same shape:
`config.yaml`, `command.txt`, `metrics.csv`, `summary.json`, `checkpoint.pt` and plots.
Exit codes: 0 done, 2 bad input, 3 diverged, 130 interrupted (1, internal error, is the CLI's).
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab.config.loading import dump_yaml, read_yaml
from d2l_lab.config.schema import to_dict
from d2l_lab.errors import UserError
from d2l_lab.runs import console
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from d2l_lab.runs.metrics import MetricsLog, read_metrics
from d2l_lab.runs.rundir import config_hash, create_run_dir
from d2l_lab.runs.task import Task

EXIT_OK, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 3, 130
DIVERGENCE_FACTOR = 1e6
"""A loss this many times the first one counts as diverged (non-finite always does)."""


@dataclass(frozen=True)
class RunOptions:
    out_root: Path = Path("outputs")
    name: str | None = None
    command: Sequence[str] = ()
    quiet: bool = False
    json: bool = False
    dry_run: bool = False


class Diverged(Exception):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss diverged at step {step} (loss = {loss:.4g})")
        self.step, self.loss = step, loss


BuildTask = Callable[[Any, Any], Task]


def execute(experiment: str, config: Any, build_task: BuildTask, options: RunOptions) -> int:
    """Start a fresh run of `experiment` with a resolved, validated config."""
    from d2l_lab.devices import resolve_device

    device = resolve_device(config.device)
    task = build_task(config, device)
    for message in task.warnings():
        console.warn(message)
    if options.dry_run:
        console.info(f"dry run: config valid, device {device}, {task.total_steps} steps; nothing trained")
        return EXIT_OK
    run_dir = create_run_dir(options.out_root, experiment, to_dict(config), options.name)
    atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
    atomic_write_text(run_dir / "command.txt", shlex.join(options.command) + "\n")
    return _train(experiment, config, task, device, run_dir, options, resume_state=None)


def resume(experiment: str, config_class: type, run_dir: Path, build_task: BuildTask, options: RunOptions) -> int:
    """Continue an interrupted run in its own directory from its last checkpoint."""
    from d2l_lab.config.schema import from_dict
    from d2l_lab.devices import resolve_device

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (no config.yaml): give the path of a run to resume")
    config = from_dict(config_class, read_yaml(run_dir / "config.yaml"))
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    device = resolve_device(config.device)
    task = build_task(config, device)
    return _train(experiment, config, task, device, run_dir, options, resume_state=state)


def _train(experiment: str, config: Any, task: Task, device: Any, run_dir: Path,
           options: RunOptions, resume_state: dict[str, Any] | None) -> int:
    metrics = MetricsLog(run_dir / "metrics.csv", task.columns)
    summary = _base_summary(experiment, config, task, device, run_dir)
    start_step, elapsed_before = 0, 0.0
    if resume_state is not None:
        task.load_state_dict(resume_state["task"])
        restore_rng_state(resume_state["rng"])
        metrics.rows = _logged_rows(run_dir, resume_state["metric_rows"])
        start_step, elapsed_before = resume_state["step"], resume_state["elapsed_s"]
        first_loss = resume_state["first_loss"]
    else:
        first_loss = None
        initial = task.initial_row()
        if initial is not None:
            metrics.log(**initial)
    _write_summary(run_dir, summary, status="running", wall=elapsed_before)
    started = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    def checkpoint(step: int) -> None:
        metrics.flush()
        save_checkpoint(run_dir / CHECKPOINT_NAME, {
            "step": step, "task": task.state_dict(), "rng": rng_state(), "metric_rows": len(metrics.rows),
            "first_loss": first_loss, "elapsed_s": elapsed(),
        })

    status, code, step = "completed", EXIT_OK, start_step
    try:
        with console.progress_bar(task.total_steps, experiment, enabled=not (options.quiet or options.json),
                                  completed=start_step) as bar, _stop_at_step_boundary() as stop_requested:
            for step in range(start_step + 1, task.total_steps + 1):
                if stop_requested():
                    raise KeyboardInterrupt
                loss = task.train_step(step)
                if first_loss is None:
                    first_loss = loss
                rows = task.evaluate(step)
                for row in [rows] if isinstance(rows, dict) else rows or []:
                    metrics.log(**row)
                if not math.isfinite(loss) or abs(loss) > DIVERGENCE_FACTOR * max(abs(first_loss), 1e-12):
                    raise Diverged(step, loss)
                bar.advance(1, loss)
                if step % task.checkpoint_every == 0 or step == task.total_steps:
                    checkpoint(step)
    except Diverged as exc:
        status, code = "diverged", EXIT_DIVERGED
        console.warn(f"{exc}; {task.diverged_hint()}")
        summary["diverged_at_step"] = exc.step
        metrics.flush()
    except KeyboardInterrupt:
        status, code = "interrupted", EXIT_INTERRUPTED
        checkpoint(step - 1)
        console.warn(f"interrupted: state saved; continue with --resume {run_dir}")
    summary["final"] = task.final_metrics()
    summary["notes"] = task.notes()
    if status != "interrupted":
        task.write_artifacts(run_dir, metrics.rows)
    _write_summary(run_dir, summary, status=status, wall=elapsed())
    _report(summary, options)
    return code


def _logged_rows(run_dir: Path, count: int) -> list[dict[str, Any]]:
    """The metrics rows up to the checkpoint (metrics.csv is flushed before every checkpoint;
    rows logged after it are dropped and will be logged again)."""
    rows = read_metrics(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else []
    if len(rows) < count:
        raise UserError(f"'{run_dir}/metrics.csv' has {len(rows)} rows but the checkpoint expects {count}: "
                        "the run directory was edited; start the run again")
    return rows[:count]


@contextmanager
def _stop_at_step_boundary() -> Iterator[Callable[[], bool]]:
    """Ctrl-C (SIGINT) asks the loop to stop before the next step, so the checkpoint holds a
    whole number of steps and `--resume` repeats the uninterrupted run exactly. A second Ctrl-C
    interrupts at once."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handle(signum: int, frame: Any) -> None:
        requested.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _base_summary(experiment: str, config: Any, task: Task, device: Any, run_dir: Path) -> dict[str, Any]:
    from d2l_lab.runs.environment import git_commit, versions

    return {
        "experiment": experiment,
        "run_dir": str(run_dir),
        "status": "running",
        "final": {},
        "wall_time_s": 0.0,
        "device": str(device),
        "seed": config.seed,
        "config_hash": config_hash(to_dict(config)),
        "data_checksum": task.data_checksum,
        "notes": {},
        "versions": versions(),
        "git_commit": git_commit(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_summary(run_dir: Path, summary: dict[str, Any], *, status: str, wall: float) -> None:
    summary["status"] = status
    summary["wall_time_s"] = round(wall, 4)
    if status != "running":
        summary["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def _report(summary: dict[str, Any], options: RunOptions) -> None:
    if options.json:
        sys.stdout.write(json.dumps(summary, separators=(",", ":")) + "\n")
    elif not options.quiet:
        console.print_summary_table(summary)
