"""Search with Optuna: the study in the sweep directory, its samplers and pruners, and the trials
it proposes, handed to a launcher as sweep points.

The study is Optuna's journal file storage (`search_space.STUDY_FILE`), which works on the shared
filesystem a cluster's workers see. Trials are asked here, one when a launcher has a free slot,
and each runs as an ordinary sweep point through `runs/worker.py:run_point`: the point itself
reports its curve to the trial, is pruned through the runner's `should_stop`, and tells the study
how it ended (`d2l_lab.runs.search_trial`), so a result is in the study before the next trial is
asked, wherever the point ran.

Resuming: trials the study holds as running (their points were interrupted, or the driver died)
run again first, with their own parameters, and resume their run directories from the
checkpoints (one the driver died before it had its parameters gets them first:
`finish_interrupted_asks`); then new trials are asked until the study holds `--trials`. Failed
trials count.

Reproducibility: the sampler is rebuilt before each ask with a seed made of `--seed` and the
trial's number, so a trial's proposal depends only on the trials finished before it, not on how
many invocations the search took. With `--jobs 1` the whole search repeats trial for trial; with
more, which trials have finished when one is asked depends on timing (TPE runs with Optuna's
`constant_liar`, so trials asked together do not pile on one spot).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from d2l_lab.errors import UserError
from d2l_lab.runs.grid import Point
from d2l_lab.runs.search_space import STUDY_FILE, Search, trial_values

STUDY_NAME = "search"
INSTALL = 'pip install "d2l-lab[tune]"'
SEED_STRIDE = 1_000_003
"""The sampler's seed for trial n is `seed * SEED_STRIDE + n`."""
TPE_STARTUP, MEDIAN_STARTUP = 10, 5
"""Optuna's own defaults: the most startup trials a search ever gets (see `startup_trials`)."""


def startup_trials(trials: int, default: int) -> int:
    """Startup trials for a budget of `trials`: max(2, trials // 8), at most Optuna's `default`.

    Optuna's defaults (TPE samples at random for its first 10 trials, the median pruner never
    prunes its first 5) suit budgets of a hundred trials; at 16 they leave 10 of 16 trials random
    and 5 unprunable. An eighth of the budget keeps a median worth comparing against (2 trials at
    least) and lets a small search spend most of its trials on the model and the pruner."""
    return min(default, max(2, trials // 8))


def optuna() -> Any:
    """The optuna module, quiet; a missing `[tune]` extra is one line naming the install command."""
    try:
        import optuna as module
    except ImportError:
        raise UserError(f"searching needs Optuna, which is not installed: {INSTALL}") from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


def storage(sweep_dir: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / STUDY_FILE)))


def sampler(search: Search, number: int) -> Any:
    samplers = optuna().samplers
    seed = search.seed * SEED_STRIDE + number
    if search.sampler == "tpe":
        return samplers.TPESampler(seed=seed, constant_liar=True,
                                   n_startup_trials=startup_trials(search.trials, TPE_STARTUP))
    if search.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if search.sampler == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return samplers.GridSampler({a.name: list(a.texts) for a in search.choices}, seed=search.seed)


def pruner(name: str, trials: int, step_unit: int) -> Any:
    """The pruner a point judges its trial with (`search_trial.TrialLink`; it reads the study all
    points share, so every point judges alike; the driver never judges, so its study has none).
    `trials` is the search's budget, which sets the median pruner's startup trials; `step_unit`
    the pruning step of a run's first evaluation (`search_trial.prune_step`: 100 for an epoch),
    hyperband's least resource, so that its rungs fall on evaluations."""
    pruners = optuna().pruners
    if name == "median":
        return pruners.MedianPruner(n_startup_trials=startup_trials(trials, MEDIAN_STARTUP))
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=step_unit)
    return pruners.NopPruner()


def open_study(sweep_dir: Path, search: Search) -> Any:
    return optuna().create_study(storage=storage(sweep_dir), study_name=STUDY_NAME, direction=search.direction,
                                 pruner=optuna().pruners.NopPruner(), load_if_exists=True)


def finish_interrupted_asks(study: Any, search: Search) -> None:
    """A driver killed between asking a trial and suggesting its parameters leaves a running trial
    without them: suggest them now, with the sampler that trial number gets, so that the trial runs
    as any other resumed one (none lost, none repeated)."""
    state = optuna().trial.TrialState
    for frozen in study.get_trials(deepcopy=False, states=(state.RUNNING, state.WAITING)):
        if not set(search.names) <= set(frozen.params):
            study.sampler = sampler(search, frozen.number)
            suggest(optuna().trial.Trial(study, frozen._trial_id), search)


def load_study(sweep_dir: Path) -> Any:
    return optuna().load_study(study_name=STUDY_NAME, storage=storage(sweep_dir))


class Trials:
    """The points of a search, in order: its running trials again, then new ones until the study
    holds `search.trials`. Pulled by a launcher when it has a slot (one thread at a time);
    `on_point` hears of each point before it is handed out."""

    def __init__(self, study: Any, search: Search, make_point: Callable[[int, list[Any]], Point],
                 request_for: Callable[[Point, dict[str, Any]], dict[str, Any]], on_point: Callable[[Point], None]):
        self.study, self.search, self.make_point = study, search, make_point
        self.request_for, self.on_point = request_for, on_point
        self.handed = 0

    def resumed(self) -> list[Any]:
        state = optuna().trial.TrialState
        return [t for t in self.study.get_trials(deepcopy=False) if t.state in (state.RUNNING, state.WAITING)]

    def expected(self) -> int:
        """How many trials this invocation runs: the running ones, then the missing ones."""
        return len(self.resumed()) + max(0, self.search.trials - len(self.study.get_trials(deepcopy=False)))

    def __iter__(self) -> Iterator[tuple[Point, dict[str, Any]]]:
        for frozen in self.resumed():
            yield self._hand(frozen.number, frozen._trial_id, frozen.params)
        while len(self.study.get_trials(deepcopy=False)) < self.search.trials:
            number = len(self.study.get_trials(deepcopy=False))
            self.study.sampler = sampler(self.search, number)
            trial = self.study.ask()
            params = suggest(trial, self.search)
            try:
                item = self._hand(trial.number, trial._trial_id, params)
            except UserError as exc:  # a corner-checked space rarely gets here: the trial fails, the search goes on
                trial.set_user_attr("error", str(exc))
                self.study.tell(trial, state=optuna().trial.TrialState.FAIL)
                continue
            yield item

    def _hand(self, number: int, trial_id: int, params: dict[str, Any]) -> tuple[Point, dict[str, Any]]:
        point = self.make_point(number + 1, trial_values(self.search, params))
        self.study._storage.set_trial_user_attr(trial_id, "config_hash", point.config_hash)
        request = self.request_for(point, {"trial_id": trial_id, "number": number, "metric": self.search.metric,
                                           "pruner": self.search.pruner, "trials": self.search.trials})
        self.on_point(point)
        self.handed += 1
        return point, request


def suggest(trial: Any, search: Search) -> dict[str, Any]:
    for axis in search.choices:
        trial.suggest_categorical(axis.name, list(axis.texts))
    for d in search.dimensions:
        if d.integer:
            trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
        else:
            trial.suggest_float(d.name, d.low, d.high, log=d.log)
    return dict(trial.params)


def finished_value(value: Any) -> float | None:
    """A trial's objective from a run's final metric: None when missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def best_trial(study: Any) -> dict[str, Any] | None:
    """The best finished trial: its number, value, parameters and run directory (None before any)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    best = study.best_trial
    return {"trial": best.number + 1, "value": best.value, "params": dict(best.params),
            "run_dir": best.user_attrs.get("run_dir")}
