"""One run, start to finish: run directory, generic training loop, checkpoints, summary.

Every experiment goes through `execute` (or `resume`), so every run directory has the same shape:
`config.yaml`, `command.txt`, `metrics.csv`, `summary.json`, `checkpoint.pt` and plots. The loop
prints nothing: it publishes events (`d2l_lab.runs.events`) and returns a `RunResult`.

Divergence: a run is `diverged` (exit 3, outputs kept) when a step's training loss is not finite
or exceeds DIVERGENCE_FACTOR (1e6) times the first step's, or when it ends with a final loss
(`final.loss` in summary.json) more than END_DIVERGENCE_FACTOR (1e3) times its starting loss (the
loss logged at step 0 where the task logs one, else the first step's training loss) or not finite:
a loss that grew by three orders of magnitude over the run is a blow-up, never a result. (GD with
lr 0.6 on the quadratic ends at 5.6e6 from 10.5; every preset ends below where it started.)

One writer per run directory: `execute` and `resume` hold the run's lock (`d2l_lab.runs.writer`)
from before their first write until the summary is final, so a second process that would write
the same run is refused (exit 2) naming the one that trains it.

Resuming: `resume` continues a run from its checkpoint after the checks of
`d2l_lab.runs.resuming` (same experiment, config and data; a finished run is left as it is).

Stopping: the caller passes `should_stop`, asked before every step. Stop signals (the CLI: Ctrl-C,
SIGTERM, SIGHUP, however many), a sweep's stop flag and a worker's parent-death watcher all answer
through it and never raise, so a run only ever stops at a step boundary, where the checkpoint
holds a whole number of steps and `--resume` repeats the uninterrupted run exactly, and no write
is ever cut short. A stop that comes after the last step, while the run evaluates, writes its
artefacts or its summary, still stops it: `interrupted`, exit 130, and `--resume` (which has no
step left to train) finishes the rest to the uninterrupted run's bytes. Only a stop after the
summary says `completed` finds nothing to stop (exit 0): summary and exit code never disagree.
A search's pruner stops a run the same way (`should_stop` answers PRUNED): the run writes its
checkpoint, metrics and artefacts and ends `pruned` (exit 0), a final status that no resume reopens.
Tasks keep their steps short so that a stop is quick (an embedding run's step is a part of an
epoch, a fraction of a second); the loop checkpoints every
`checkpoint_every` steps (an embedding run: at each epoch's end), at the last step, on a stop,
and after any step that ends CHECKPOINT_EVERY_S seconds after the last checkpoint (an epoch of a
big corpus takes hours; a SIGKILL then loses at most about that much).

Progress: after every step the loop publishes `Stepped`, with the task's optional `progress()`
(where it stands in its own units: epochs, words/s, lr) as its `detail`.
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.config.loading import dump_yaml, read_yaml
from d2l_lab.config.schema import clip, from_dict, to_dict
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, save_checkpoint, seed_rngs
from d2l_lab.runs.events import (DataRead, DryRunChecked, Ended, Logged, RunResult, Started, Stepped, Subscriber, Warned,
                                 publish)
from d2l_lab.runs.faults import check_in_place, identity, run_failure
from d2l_lab.runs.metrics import MetricsLog
from d2l_lab.runs.resuming import (FINISHED, check_same_config, check_same_data, checked_state, load_state,
                                   logged_rows, read_summary, remove_partial_writes, wall_time_before)
from d2l_lab.runs.rundir import config_hash, create_run_dir
from d2l_lab.runs.task import Task
from d2l_lab.runs.tensorboard import tensorboard_subscribers
from d2l_lab.runs.writer import hold

DIVERGENCE_FACTOR = 1e6
"""A step's loss this many times the first one counts as diverged (non-finite always does)."""
END_DIVERGENCE_FACTOR = 1e3
"""A final loss this many times the starting loss counts as diverged (see the module docstring)."""
CHECKPOINT_EVERY_S = 600.0
"""A checkpoint at the first step boundary this long after the last one, whatever `checkpoint_every`
says: rare enough that writing megabytes of tables costs nothing, often enough for long epochs."""

BuildTask = Callable[[Any, Any, Callable[[int, "int | None"], None]], Task]
"""(config, device, progress) -> Task; `progress(bytes_done, bytes_total)` follows data reading."""
PRUNED = "pruned"
"""What `should_stop` answers when a search's pruner stops the run (`d2l_lab.runs.search_trial`):
the run ends `pruned`, a result like `completed` (exit 0, never resumed), with what it trained."""
StopCheck = Callable[[], "bool | str"]
"""False: go on; True: interrupted (resumable); PRUNED: pruned (final)."""


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
    seed_rngs(config.seed)
    task = _build(build_task, config, device, subscribers)
    if options.dry_run:
        publish(subscribers, DryRunChecked(str(device), task.total_steps))
        return RunResult(exit_codes.OK, None, None)
    run_dir = create_run_dir(options.out_root, experiment, to_dict(config), options.name)
    with ExitStack() as held:
        try:
            held.enter_context(hold(run_dir, lambda message: publish(subscribers, Warned(message))))
            atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
            atomic_write_text(run_dir / "command.txt", shlex.join(options.command) + "\n")
        except OSError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing of the run exists yet: leave nothing behind
            raise UserError(f"cannot write the new run directory '{run_dir}': {exc.strerror or clip(exc)}; free "
                            "some space or pick another --out") from None
        return _train(experiment, config, task, device, run_dir, None, should_stop, subscribers)


def resume(experiment: str, config_class: type, run_dir: Path, build_task: BuildTask, *,
           should_stop: StopCheck = never, subscribers: Sequence[Subscriber] = ()) -> RunResult:
    """Continue an interrupted run in its own directory from its last checkpoint, after checking
    that the checkpoint belongs to this experiment, config and data (`d2l_lab.runs.resuming`)."""
    from d2l_lab.devices import resolve_device

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (no config.yaml): give the path of a run to resume")
    recorded = read_summary(run_dir)
    if recorded.get("experiment") not in (None, experiment):
        raise UserError(f"'{run_dir}' is a run of {clip(recorded['experiment'])}, not {experiment}: "
                        f"resume it with d2l run {clip(recorded['experiment'])} --resume")
    config = from_dict(config_class, read_yaml(run_dir / "config.yaml"))
    if recorded.get("status") in FINISHED:
        return _finished(run_dir, recorded, subscribers)
    with ExitStack() as held:
        try:  # before anything is loaded: another process training this run is refused here
            held.enter_context(hold(run_dir, lambda message: publish(subscribers, Warned(message))))
        except OSError as exc:
            raise UserError(f"cannot write in '{run_dir}' ({exc.strerror or clip(exc)}): a resume writes there; "
                            "make it writable") from None
        recorded = read_summary(run_dir)  # again: the run may have ended while we waited
        if recorded.get("status") in FINISHED:
            return _finished(run_dir, recorded, subscribers)
        state = checked_state(load_checkpoint(run_dir / CHECKPOINT_NAME), run_dir, experiment)
        check_same_config(state, recorded, to_dict(config), run_dir)
        device = resolve_device(config.device)
        task = _build(build_task, config, device, subscribers)
        check_same_data(state, recorded, task.data_checksum, run_dir)
        remove_partial_writes(run_dir)
        return _train(experiment, config, task, device, run_dir, state, should_stop, subscribers)


def _finished(run_dir: Path, recorded: dict[str, Any], subscribers: Sequence[Subscriber]) -> RunResult:
    """A completed or diverged run, reported as it stands; no file changes."""
    publish(subscribers, Warned(f"run '{run_dir}' is already {recorded['status']}: nothing to resume, "
                                "nothing changed"))
    result = RunResult(exit_codes.OK, recorded, run_dir)
    publish(subscribers, Ended(result))
    return result


def _build(build_task: BuildTask, config: Any, device: Any, subscribers: Sequence[Subscriber]) -> Task:
    """Build the task, relaying its data-reading progress (a big corpus takes a while) and the
    cache's fallback warning (`d2l_lab.cache`) as events."""
    from d2l_lab.cache import take_warnings

    try:
        task = build_task(config, device, lambda done, total: publish(subscribers, DataRead(done, total)))
    except MemoryError as exc:  # numpy's "Unable to allocate 745. GiB for an array ..."
        raise UserError(f"not enough memory to set up this run ({clip(str(exc), 120)}): lower the sizes in "
                        "the config (dim, vocabulary via min_count, batch size)") from None
    for message in [*take_warnings(), *task.warnings()]:  # a resume hears them as the start did
        publish(subscribers, Warned(message))
    return task


class _Diverged(Exception):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss diverged at step {step} (loss = {loss:.4g})")
        self.step = step


def _train(experiment: str, config: Any, task: Task, device: Any, run_dir: Path, resume_state: dict[str, Any] | None,
           should_stop: StopCheck, subscribers: Sequence[Subscriber]) -> RunResult:
    """`_train_and_record`; a failed write (disk full, a file size limit, a directory gone
    read-only), memory running out or the run directory gone is one line naming the cause and
    the way on, the run marked `failed` where it still can be (`d2l_lab.runs.faults`)."""
    subscribers = [*subscribers, *tensorboard_subscribers(config, run_dir)]  # `--tensorboard`
    try:
        return _train_and_record(experiment, config, task, device, run_dir, resume_state, should_stop, subscribers)
    except (OSError, MemoryError, RuntimeError) as exc:
        failure = run_failure(run_dir, exc)
        if failure is None:
            raise
        raise failure from None


def _train_and_record(experiment: str, config: Any, task: Task, device: Any, run_dir: Path,
                      resume_state: dict[str, Any] | None, should_stop: StopCheck,
                      subscribers: Sequence[Subscriber]) -> RunResult:
    metrics = MetricsLog(run_dir / "metrics.csv", task.columns)

    def log(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            metrics.log(**row)
            publish(subscribers, Logged(row))

    summary = _base_summary(experiment, config, task, device, run_dir)
    config_dict = to_dict(config)
    start_step, elapsed_before, first_loss, start_loss = 0, 0.0, None, None
    if resume_state is not None:
        load_state(task, resume_state, run_dir)
        metrics.rows = logged_rows(run_dir, resume_state["metric_rows"])
        start_step, elapsed_before = resume_state["step"], wall_time_before(resume_state, run_dir)
        first_loss = resume_state.get("first_loss")
        start_loss = resume_state.get("start_loss", first_loss)
    else:
        initial = task.initial_rows()
        start_loss = _loss_of(initial[0]) if initial else None
        log(initial)
    _write_summary(run_dir, summary, status="running", wall=elapsed_before)
    publish(subscribers, Started(experiment, run_dir, str(device), task.total_steps, start_step))
    started = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    last_checkpoint = time.monotonic()

    def checkpoint(step: int) -> None:
        nonlocal last_checkpoint
        last_checkpoint = time.monotonic()
        metrics.flush()
        save_checkpoint(run_dir / CHECKPOINT_NAME, {
            "step": step, "task": task.state_dict(), "rng": rng_state(), "metric_rows": len(metrics.rows),
            "first_loss": first_loss, "start_loss": start_loss,
            "experiment": experiment, "config": config_dict, "config_hash": summary["config_hash"],
            "data_checksum": task.data_checksum,
        })
        _write_summary(run_dir, summary, status="running", wall=elapsed())  # the wall time a resume adds to

    status, code = "completed", exit_codes.OK
    reached = start_step
    """The last step whose state the task holds (a mid-step Ctrl-C leaves the one before)."""
    place = identity(run_dir)
    try:
        for step in range(start_step + 1, task.total_steps + 1):
            check_in_place(run_dir, place)
            if stop := should_stop():
                checkpoint(step - 1)
                if stop == PRUNED:
                    status = PRUNED
                    break
                status, code = "interrupted", exit_codes.INTERRUPTED
                publish(subscribers, Warned(f"interrupted: state saved; continue with --resume {run_dir}"))
                break
            loss = task.train_step(step)
            reached = step
            if first_loss is None:
                first_loss = loss
            if start_loss is None:
                start_loss = first_loss
            log(task.evaluate(step))
            if not math.isfinite(loss) or abs(loss) > DIVERGENCE_FACTOR * max(abs(first_loss), 1e-12):
                raise _Diverged(step, loss)
            publish(subscribers, Stepped(step, task.total_steps, loss, _progress_detail(task)))
            if (step % task.checkpoint_every == 0 or step == task.total_steps
                    or time.monotonic() - last_checkpoint >= CHECKPOINT_EVERY_S):
                checkpoint(step)
    except _Diverged as exc:
        status, code = "diverged", exit_codes.DIVERGED
        publish(subscribers, Warned(f"{exc}; {task.diverged_hint()}"))
        summary["diverged_at_step"] = exc.step
        metrics.flush()
    except KeyboardInterrupt:  # Ctrl-C that no handler turns into a stop (a library caller's): that step is lost
        status, code = "interrupted", exit_codes.INTERRUPTED
        publish(subscribers, Warned(f"interrupted mid-step: the last checkpoint stands; continue with "
                                    f"--resume {run_dir}"))
    summary["final"] = task.final_metrics(reached)
    summary["steps_done"], summary["total_steps"] = reached, task.total_steps
    if status == "completed" and _ended_diverged(summary["final"], start_loss):
        status, code = "diverged", exit_codes.DIVERGED
        summary["diverged_at_step"] = reached
        publish(subscribers, Warned(f"loss diverged: it ended at {summary['final']['loss']:.4g} from "
                                    f"{start_loss:.4g} at the start; {task.diverged_hint()}"))
    summary["notes"] = task.notes()

    def stopped_after_the_steps() -> bool:
        """A stop after the last step (the checkpoint holds it) interrupts the run all the same, so
        that the exit code says what the signal asked and `--resume` writes what is left."""
        nonlocal status, code
        if status != "completed" or should_stop() in (False, PRUNED):  # a prune after the last step: nothing to cut
            return False
        status, code = "interrupted", exit_codes.INTERRUPTED
        publish(subscribers, Warned(f"interrupted after the last step: state saved; finish it with --resume "
                                    f"{run_dir}"))
        return True

    stopped_after_the_steps()  # asked between the writes that are left
    if status != "interrupted":
        task.write_artifacts(run_dir, metrics.rows)
    stopped_after_the_steps()
    _write_summary(run_dir, summary, status=status, wall=elapsed())
    if stopped_after_the_steps():  # it came while the summary was written
        _write_summary(run_dir, summary, status=status, wall=elapsed())
    result = RunResult(code, summary, run_dir)
    publish(subscribers, Ended(result))
    return result


def _progress_detail(task: Task) -> dict[str, Any]:
    """What the task says about where it stands (`Stepped.detail`); `progress` is optional."""
    progress = getattr(task, "progress", None)
    return progress() if progress is not None else {}


def _loss_of(row: dict[str, Any]) -> float | None:
    value = row.get("loss")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ended_diverged(final: dict[str, Any], start_loss: float | None) -> bool:
    """The end-of-run rule of the module docstring."""
    end = _loss_of(final)
    if end is None or start_loss is None:
        return False
    return not math.isfinite(end) or abs(end) > END_DIVERGENCE_FACTOR * max(abs(start_loss), 1e-12)


def _base_summary(experiment: str, config: Any, task: Task, device: Any, run_dir: Path) -> dict[str, Any]:
    from d2l_lab.runs.environment import commit_fields, versions

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
        **commit_fields(),  # git_commit, and git_commit_reason when it is null
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_summary(run_dir: Path, summary: dict[str, Any], *, status: str, wall: float) -> None:
    summary["status"] = status
    summary["wall_time_s"] = round(wall, 4)
    if status != "running":
        summary["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
