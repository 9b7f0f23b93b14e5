"""One run, start to finish: run directory, generic training loop, checkpoints, summary.

Every experiment goes through `execute` (or `resume`), so every run directory has the same shape:
`config.yaml`, `command.txt`, `metrics.csv`, `summary.json`, `checkpoint.pt` and plots. The loop
prints nothing: it publishes events (`d2l_lab.runs.events`) and returns a `RunResult`.

Stopping: the caller passes `should_stop`, asked before every step. Ctrl-C (the CLI), a sweep's
stop flag and a worker's parent-death watcher all answer through it, so a run only ever stops at a
step boundary, where the checkpoint holds a whole number of steps and `--resume` repeats the
uninterrupted run exactly.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.config.loading import dump_yaml, read_yaml
from d2l_lab.config.schema import from_dict, to_dict
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from d2l_lab.runs.events import (DataRead, DryRunChecked, Ended, Logged, RunResult, Started, Stepped, Subscriber, Warned,
                                 publish)
from d2l_lab.runs.metrics import MetricsLog, read_metrics
from d2l_lab.runs.rundir import config_hash, create_run_dir
from d2l_lab.runs.task import Task

DIVERGENCE_FACTOR = 1e6
"""A loss this many times the first one counts as diverged (non-finite always does)."""

BuildTask = Callable[[Any, Any, Callable[[int, "int | None"], None]], Task]
"""(config, device, progress) -> Task; `progress(bytes_done, bytes_total)` follows data reading."""
StopCheck = Callable[[], bool]


def never() -> bool:
    """The default `should_stop`: run to the end."""
    return False


@dataclass(frozen=True)
class RunOptions:
    out_root: Path = Path("outputs")
    name: str | None = None
    command: Sequence[str] = ()
    """What the user typed, recorded in command.txt."""
    dry_run: bool = False


def execute(experiment: str, config: Any, build_task: BuildTask, options: RunOptions, *,
            should_stop: StopCheck = never, subscribers: Sequence[Subscriber] = ()) -> RunResult:
    """Start a fresh run of `experiment` with a resolved, validated config."""
    from d2l_lab.devices import resolve_device

    device = resolve_device(config.device)
    task = _build(build_task, config, device, subscribers)
    for message in task.warnings():
        publish(subscribers, Warned(message))
    if options.dry_run:
        publish(subscribers, DryRunChecked(str(device), task.total_steps))
        return RunResult(exit_codes.OK, None, None)
    run_dir = create_run_dir(options.out_root, experiment, to_dict(config), options.name)
    atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
    atomic_write_text(run_dir / "command.txt", shlex.join(options.command) + "\n")
    return _train(experiment, config, task, device, run_dir, None, should_stop, subscribers)


def resume(experiment: str, config_class: type, run_dir: Path, build_task: BuildTask, *,
           should_stop: StopCheck = never, subscribers: Sequence[Subscriber] = ()) -> RunResult:
    """Continue an interrupted run in its own directory from its last checkpoint."""
    from d2l_lab.devices import resolve_device

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (no config.yaml): give the path of a run to resume")
    config = from_dict(config_class, read_yaml(run_dir / "config.yaml"))
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    device = resolve_device(config.device)
    task = _build(build_task, config, device, subscribers)
    return _train(experiment, config, task, device, run_dir, state, should_stop, subscribers)


def _build(build_task: BuildTask, config: Any, device: Any, subscribers: Sequence[Subscriber]) -> Task:
    """Build the task, relaying its data-reading progress (a big corpus takes a while) as events."""
    return build_task(config, device, lambda done, total: publish(subscribers, DataRead(done, total)))


class _Diverged(Exception):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss diverged at step {step} (loss = {loss:.4g})")
        self.step = step


def _train(experiment: str, config: Any, task: Task, device: Any, run_dir: Path, resume_state: dict[str, Any] | None,
           should_stop: StopCheck, subscribers: Sequence[Subscriber]) -> RunResult:
    metrics = MetricsLog(run_dir / "metrics.csv", task.columns)

    def log(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            metrics.log(**row)
            publish(subscribers, Logged(row))

    summary = _base_summary(experiment, config, task, device, run_dir)
    start_step, elapsed_before, first_loss = 0, 0.0, None
    if resume_state is not None:
        task.load_state_dict(resume_state["task"])
        restore_rng_state(resume_state["rng"])
        metrics.rows = _logged_rows(run_dir, resume_state["metric_rows"])
        start_step, elapsed_before = resume_state["step"], resume_state["elapsed_s"]
        first_loss = resume_state["first_loss"]
    else:
        log(task.initial_rows())
    _write_summary(run_dir, summary, status="running", wall=elapsed_before)
    publish(subscribers, Started(experiment, run_dir, str(device), task.total_steps, start_step))
    started = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    def checkpoint(step: int) -> None:
        metrics.flush()
        save_checkpoint(run_dir / CHECKPOINT_NAME, {
            "step": step, "task": task.state_dict(), "rng": rng_state(), "metric_rows": len(metrics.rows),
            "first_loss": first_loss, "elapsed_s": elapsed(),
        })

    status, code = "completed", exit_codes.OK
    try:
        for step in range(start_step + 1, task.total_steps + 1):
            if should_stop():
                status, code = "interrupted", exit_codes.INTERRUPTED
                checkpoint(step - 1)
                publish(subscribers, Warned(f"interrupted: state saved; continue with --resume {run_dir}"))
                break
            loss = task.train_step(step)
            if first_loss is None:
                first_loss = loss
            log(task.evaluate(step))
            if not math.isfinite(loss) or abs(loss) > DIVERGENCE_FACTOR * max(abs(first_loss), 1e-12):
                raise _Diverged(step, loss)
            publish(subscribers, Stepped(step, task.total_steps, loss))
            if step % task.checkpoint_every == 0 or step == task.total_steps:
                checkpoint(step)
    except _Diverged as exc:
        status, code = "diverged", exit_codes.DIVERGED
        publish(subscribers, Warned(f"{exc}; {task.diverged_hint()}"))
        summary["diverged_at_step"] = exc.step
        metrics.flush()
    except KeyboardInterrupt:  # a second Ctrl-C, in the middle of a step: that step is lost
        status, code = "interrupted", exit_codes.INTERRUPTED
        publish(subscribers, Warned(f"interrupted mid-step: the last checkpoint stands; continue with "
                                    f"--resume {run_dir}"))
    summary["final"] = task.final_metrics()
    summary["notes"] = task.notes()
    if status != "interrupted":
        task.write_artifacts(run_dir, metrics.rows)
    _write_summary(run_dir, summary, status=status, wall=elapsed())
    result = RunResult(code, summary, run_dir)
    publish(subscribers, Ended(result))
    return result


def _logged_rows(run_dir: Path, count: int) -> list[dict[str, Any]]:
    """The metrics rows up to the checkpoint (metrics.csv is flushed before every checkpoint;
    rows logged after it are dropped and will be logged again)."""
    rows = read_metrics(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else []
    if len(rows) < count:
        raise UserError(f"'{run_dir}/metrics.csv' has {len(rows)} rows but the checkpoint expects {count}: "
                        "the run directory was edited; start the run again")
    return rows[:count]


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
