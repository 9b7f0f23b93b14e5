"""A search trial seen from its point (`runs/worker.py:run_point`, wherever it runs): report the
curve to the study, answer the runner's `should_stop` with `runner.PRUNED` when the pruner says
so, and tell the study how the run ended.

Reported values: each logged row holding the search's metric (optim: every logged point;
embeddings: each evaluation, `evals_per_epoch` an epoch), at a step the pruner compares across
trials: the row's position in epochs, in hundredths, where the run logs one (embeddings:
`progress`; airfoil: `epoch`, so that runs of different batch sizes line up), else the run's
step. A value already reported for a step (a run resumed after its last checkpoint) is kept, as
Optuna does.

How the run ended becomes the trial's state: completed or diverged -> COMPLETE with the final
metric (FAIL when it has none, or NaN), pruned -> PRUNED, a point error or a lost point -> FAIL;
an interrupted point leaves the trial RUNNING, so re-issuing the sweep resumes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from d2l_lab import exit_codes
from d2l_lab.runs.events import Event, Logged
from d2l_lab.runs.runner import PRUNED, StopCheck

EPOCH_TICKS = 100
"""Pruning steps per epoch, where a run logs epochs."""


def prune_step(row: dict[str, Any]) -> int | None:
    for name in ("progress", "epoch"):  # an embedding row's `epoch` is the whole epoch it falls in
        if isinstance(row.get(name), (int, float)):
            return round(row[name] * EPOCH_TICKS)
    step = row.get("step")
    return int(step) if isinstance(step, (int, float)) else None


class TrialLink:
    """One trial of the study at `spec["storage"]` (see the module docstring)."""

    def __init__(self, spec: dict[str, Any]):
        from d2l_lab.runs.search import STUDY_NAME, optuna, storage

        module = optuna()
        study = module.load_study(study_name=STUDY_NAME, storage=storage(Path(spec["storage"]).parent))
        self.study, self.trial = study, module.trial.Trial(study, spec["trial_id"])
        self.metric, self.prunes = spec["metric"], spec["pruner"] != "none"
        self.pruner_name, self.trials = spec["pruner"], spec["trials"]
        self.states = module.trial.TrialState
        self.pruned = self.pruner_set = False

    def observe(self, event: Event) -> None:
        if not isinstance(event, Logged) or self.pruned:
            return
        value, step = event.row.get(self.metric), prune_step(event.row)
        if not isinstance(value, (int, float)) or step is None or not math.isfinite(value):
            return
        reported = self.study._storage.get_trial(self.trial._trial_id).intermediate_values
        if step not in reported:
            self.trial.report(float(value), step)
        if not self.pruner_set:  # a search's trials are one experiment: their first evaluations share a step
            from d2l_lab.runs.search import pruner

            first = min(reported, default=step)
            self.study.pruner = pruner(self.pruner_name, self.trials, step_unit=max(first, 1))
            self.pruner_set = True
        self.pruned = self.prunes and self.trial.should_prune()

    def stopping(self, should_stop: StopCheck) -> StopCheck:
        """`should_stop` first (a Ctrl-C interrupts, resumably), then the pruner's verdict."""
        return lambda: should_stop() or (PRUNED if self.pruned else False)

    def finish(self, result: dict[str, Any], experiment: str) -> None:
        from d2l_lab.runs.search import finished_value

        storage, trial_id = self.study._storage, self.trial._trial_id
        if storage.get_trial(trial_id).state.is_finished():  # told by an earlier run of this point
            return
        summary = result.get("summary")
        if summary is None:
            if result["exit"] != exit_codes.INTERRUPTED:
                self.trial.set_user_attr("error", (result.get("error") or "").strip()[-300:])
                self.study.tell(self.trial, state=self.states.FAIL)
            return
        status = summary["status"]
        if status == "interrupted":
            return
        self.trial.set_user_attr("run_dir", f"{experiment}/{Path(summary['run_dir']).name}")
        self.trial.set_user_attr("status", status)
        self.trial.set_user_attr("wall_time_s", summary.get("wall_time_s"))
        value = finished_value((summary.get("final") or {}).get(self.metric))
        if status == PRUNED:
            self.study.tell(self.trial, state=self.states.PRUNED)
        elif value is None:
            self.study.tell(self.trial, state=self.states.FAIL)
        else:
            self.study.tell(self.trial, value)
