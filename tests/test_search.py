"""Searches (issue 26): `d2l sweep --space ... --trials N --search tpe --prune median`, an Optuna
study in the sweep directory whose trials run as ordinary sweep points.

Bad spaces are one line, exit 2, nothing written; a pruned run says so; a search killed with
SIGKILL resumes to exactly its number of trials, none repeated; the same seed proposes the same
trials. Searches run on the quadratic with a few steps (each trial about a second)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from d2l_lab.runs.runner import PRUNED

from .conftest import d2l, needs_extra

QUADRATIC = ("--set", "problem.name=quadratic", "--set", "train.steps=4")
ADAM = ("--set", "optimizer.algo=adam", *QUADRATIC)
SPACE = ("--space", "lr=log:0.01:0.9")
D2L = [sys.executable, "-m", "d2l_lab"]


def _study(out: Path):
    optuna = needs_extra("optuna", "tune")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    (sweep_dir,) = (out / "sweeps").iterdir()
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return optuna.load_study(study_name="search", storage=storage)


@pytest.mark.parametrize("args, needle", [
    (("--space", "lr=log:0:1"), "a log range needs LOW > 0"),
    (("--space", "lr=log:0.1:0.01"), "LOW must be below HIGH"),
    (("--space", "steps=int:5:2"), "LOW must be below HIGH"),
    (("--space", "steps=int:2:5.5"), "an int range takes integers"),
    (("--space", "lrr=log:0.01:0.1"), "unknown --space key 'lrr': did you mean 'lr'?"),
    (("--space", "lr=cubic:0.01:0.1"), "unknown kind 'cubic'"),
    (("--space", "momentum=float:0.1:0.9"), "does not use optimizer.momentum"),
    (("--space", "lr=float:-1:0.5"), "--space at its low end (lr=-1.0)"),
    (("--space", "lr=log:0.01:0.1", "--search", "grid"), "--search grid enumerates --grid values"),
    (("--space", "lr=log:0.01:0.1", "--metric", "x1"), "--metric x1 has no direction"),
    (("--space", "lr=log:0.01:0.1", "--seeds", "2"), "--seeds does not combine with a search"),
    (("--space", "lr=log:0.01:0.1", "--set", "optimizer.lr=0.1"), "both searched and fixed"),
    (("--space", "lr=log:0.01:0.1", "--prune", "asha"), "--prune must be one of none, median, hyperband"),
    (("--trials", "3", "--grid", "lr=0.1,0.2"), "--trials is for a search"),
])
def test_a_bad_space_is_one_line_and_writes_nothing(tmp_path, args, needle):
    result = d2l("sweep", "optim", *ADAM, "--trials", "2", *args,
                 "--out", str(tmp_path / "out"))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_missing_tune_extra_is_one_line_naming_the_install_command(tmp_path):
    code = ("import sys; sys.modules['optuna'] = None; sys.argv = ['d2l', 'sweep', 'optim', '--space', "
            f"'lr=log:0.01:0.1', '--trials', '2', '--out', {str(tmp_path / 'out')!r}]\n"
            "from d2l_lab.cli.main import main\nmain()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert 'searching needs Optuna, which is not installed: pip install "d2l-lab[tune]"' in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_run_the_pruner_stops_ends_pruned_and_is_not_resumed(tmp_path):
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.runner import RunOptions, execute, resume

    spec = experiment("optim")
    from d2l_lab.config.loading import compose

    config = compose(spec.config_class, "optim", sets=["problem.name=quadratic", "train.steps=10"])
    asked = []

    def prune_after_three() -> bool | str:
        asked.append(1)
        return PRUNED if len(asked) > 3 else False

    run = execute("optim", config, spec.build_task(), RunOptions(out_root=tmp_path), should_stop=prune_after_three)
    assert run.exit_code == 0 and run.summary["status"] == "pruned" and run.summary["steps_done"] == 3
    assert json.loads((run.run_dir / "summary.json").read_text())["status"] == "pruned"
    again = resume("optim", spec.config_class, run.run_dir, spec.build_task())
    assert again.summary["status"] == "pruned" and again.summary["steps_done"] == 3


def _replayed(trials: list, sampler: str, seed: int) -> list[dict]:
    """The proposals a search with `sampler` and `seed` makes when its trials score as `trials`
    did: the driver's ask loop (`search.sampler` re-seeded per trial) on an in-memory study."""
    optuna = needs_extra("optuna", "tune")
    from d2l_lab.runs.search import sampler as seeded, suggest
    from d2l_lab.runs.search_space import Dimension, Search

    space = (Dimension("optimizer.lr", "lr", "log", 0.01, 0.9),
             Dimension("optimizer.beta1", "beta1", "float", 0.5, 0.99))
    search = Search(space, (), len(trials), sampler, "none", "loss", "minimize", seed)
    study, proposed = optuna.create_study(direction="minimize"), []
    for number, done in enumerate(trials):
        study.sampler = seeded(search, number)
        trial = study.ask()
        proposed.append(suggest(trial, search))
        study.tell(trial, done.value)
    return proposed


@pytest.mark.slow
def test_the_same_seed_proposes_the_same_trials(tmp_path):
    """One search of 3 TPE trials (the third past its 2 random startup trials); replaying its
    results through the ask loop proposes the same trials, another seed other ones."""
    needs_extra("optuna", "tune")
    result = d2l("sweep", "optim", *ADAM, *SPACE, "--space", "beta1=float:0.5:0.99",
                 "--trials", "3", "--jobs", "1", "--seed", "0", "--out", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.stderr
    trials = sorted(_study(tmp_path).trials, key=lambda t: t.number)
    first = [t.params for t in trials]
    assert len(first) == 3 and len({p["lr"] for p in first}) == 3
    assert _replayed(trials, "tpe", 0) == first and _replayed(trials, "tpe", 1) != first
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    shown = d2l("runs", "compare", str(sweep_dir), "--out", str(tmp_path))
    assert shown.exit_code == 0, shown.stderr
    assert "best: trial" in shown.stderr and "command: d2l run optim" in shown.stderr
    assert sorted(p.name for p in sweep_dir.glob("compare-loss-search-*.png")) == [
        f"compare-loss-search-{n}.png" for n in (1, 2, 3)]  # history, parallel coordinates, importances


@pytest.mark.parametrize("trials, startup", [(1, 2), (16, 2), (24, 3), (40, 5), (200, 10)])
def test_startup_trials_are_an_eighth_of_the_budget_within_2_and_optunas_default(trials, startup):
    from d2l_lab.runs.search import TPE_STARTUP, startup_trials

    assert startup_trials(trials, TPE_STARTUP) == startup


def _finished_so_far(out: Path) -> int:
    """Finished trials of the search writing into `out`; 0 before its study exists (the sweep
    directory appears first, and opening a journal that is not there yet would create it)."""
    journals = list(out.glob("sweeps/*/study.journal"))
    try:
        return sum(t.state.is_finished() for t in _study(out).trials) if len(journals) == 1 else 0
    except KeyError:  # the journal holds no study yet
        return 0


@pytest.mark.slow
def test_a_search_killed_after_3_of_8_trials_resumes_to_exactly_8_with_pruned_runs(tmp_path):
    needs_extra("optuna", "tune")
    out = tmp_path / "out"
    command = [*D2L, "sweep", "optim", "--set", "problem.name=quadratic", "--set", "train.steps=30",
               "--space", "lr=log:0.001:0.6", "--trials", "8", "--search", "random", "--prune", "median",
               "--jobs", "1", "--out", str(out), "--quiet"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _finished_so_far(out) < 3:
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    killed_at = len(_study(out).trials)
    assert 3 <= killed_at < 8
    again = subprocess.run(command[:-1] + ["--json"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    trials = sorted(_study(out).trials, key=lambda t: t.number)
    assert [t.number for t in trials] == list(range(8))
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    runs = {t.user_attrs["run_dir"] for t in trials}
    assert len(runs) == 8 and len(list((out / "optim").iterdir())) == 8  # none trained twice
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, "median pruning stopped no trial of 8"
    for t in pruned:
        summary = json.loads((out / t.user_attrs["run_dir"] / "summary.json").read_text())
        assert summary["status"] == "pruned" and summary["steps_done"] < 30
    report = json.loads(again.stdout)
    assert report["trials"] == 8 and report["best"]["value"] == min(t.value for t in trials if t.value is not None)
    (sweep_dir,) = (out / "sweeps").iterdir()
    shown = d2l("report", str(sweep_dir), "-o", str(tmp_path / "r.md"), "--out", str(out))
    assert shown.exit_code == 0, shown.stderr
    page = (tmp_path / "r.md").read_text()
    best = min((t for t in trials if t.value is not None), key=lambda t: t.value)
    assert f"best: trial {best.number + 1}," in page and "command: d2l run optim" in page
    assert f"{len(pruned)} pruned" in page and "| pruned |" in page  # the study's count, the runs' table
    for title in ("best so far against trials and compute", "parallel coordinates"):  # importances: 2+ params
        assert title in page


def test_hyperbands_rungs_fall_on_a_runs_evaluations(tmp_path):
    """An embedding run evaluates once an epoch, at pruning steps 100, 200, ... (`prune_step`).
    Hyperband's least resource is that first step, so a trial's first evaluation takes it through
    at most one rung; with Optuna's default of 1 it would pass rungs 1, 3, 9, 27 and 81 at once."""
    optuna = needs_extra("optuna", "tune")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from d2l_lab.runs.events import Logged
    from d2l_lab.runs.search_trial import TrialLink

    journal = tmp_path / "study.journal"
    study = optuna.create_study(study_name="search", storage=JournalStorage(JournalFileBackend(str(journal))),
                                direction="maximize")
    for value in (0.1, 0.2, 0.3):  # finished trials of 5 epochs: hyperband's most resource, 500
        trial = study.ask()
        for epoch in range(1, 6):
            trial.report(value * epoch, 100 * epoch)
        study.tell(trial, value * 5)
    rungs = []
    for n in range(6):
        trial_id = study.ask()._trial_id
        link = TrialLink({"storage": str(journal), "trial_id": trial_id, "metric": "rho", "pruner": "hyperband",
                          "trials": 9})
        link.observe(Logged({"epoch": 1, "rho": 0.05 * n}))
        rungs.append([key for key in study.get_trials()[-1].system_attrs if key.startswith("completed_rung_")])
    assert max(len(passed) for passed in rungs) == 1, rungs


def test_parallel_coordinates_label_each_axis_with_the_values_at_its_ends():
    optuna = needs_extra("optuna", "tune")
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from d2l_lab.runs.search_report import _parallel, axis_ends

    lr, window, algo = (FloatDistribution(0.005, 0.1, log=True), IntDistribution(2, 10),
                        CategoricalDistribution(["momentum", "nesterov"]))
    assert [axis_ends(d) for d in (lr, window, algo)] == [("0.005", "0.1"), ("2", "10"), ("momentum", "nesterov")]
    trials = [optuna.trial.create_trial(params={"lr": x, "window": w, "algo": a}, value=v,
                                        distributions={"lr": lr, "window": window, "algo": algo})
              for x, w, a, v in ((0.01, 3, "momentum", 0.2), (0.05, 9, "nesterov", 0.35))]
    ax = _parallel(trials, "rho").axes[0]
    assert {t.get_text() for t in ax.texts} == {"0.005", "0.1", "2", "10", "momentum", "nesterov", "0.2", "0.35"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lr (log)", "window", "algo", "rho"]


def test_scores_within_an_epoch_are_reported_at_their_position_and_can_prune_there(tmp_path):
    """With `evals_per_epoch` 4 an embedding row of epoch 1 at progress 0.25 is step 25, not 100
    (its `epoch` is the epoch it falls in), so a trial below the median stops a quarter in."""
    optuna = needs_extra("optuna", "tune")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from d2l_lab.runs.events import Logged
    from d2l_lab.runs.search_trial import TrialLink

    journal = tmp_path / "study.journal"
    study = optuna.create_study(study_name="search", storage=JournalStorage(JournalFileBackend(str(journal))),
                                direction="maximize")
    for value in (0.3, 0.4, 0.5):
        trial = study.ask()
        for quarter in range(1, 9):
            trial.report(value * quarter, 25 * quarter)
        study.tell(trial, value * 8)
    link = TrialLink({"storage": str(journal), "trial_id": study.ask()._trial_id, "metric": "rho",
                      "pruner": "median", "trials": 16})
    link.observe(Logged({"epoch": 1, "progress": 0.25, "rho": 0.1}))
    assert study.get_trials()[-1].intermediate_values == {25: 0.1}
    assert link.stopping(lambda: False)() == "pruned"


def test_a_trial_asked_by_a_driver_killed_before_its_parameters_gets_them_on_resume(tmp_path):
    """SIGKILL between `study.ask()` and the suggestions leaves a running trial with no
    parameters; the resumed driver suggests them with the sampler that trial number gets: the
    parameters an uninterrupted driver would have asked for."""
    needs_extra("optuna", "tune")
    from d2l_lab.runs.search import finish_interrupted_asks, open_study, sampler, suggest
    from d2l_lab.runs.search_space import Dimension, Search

    space = (Dimension("optimizer.lr", "lr", "log", 0.01, 0.9), Dimension("train.steps", "steps", "int", 2, 9))
    search = Search(space, (), 4, "tpe", "median", "loss", "minimize", 7)
    study = open_study(tmp_path, search)
    for number in range(2):
        study.sampler = sampler(search, number)
        trial = study.ask()
        study.tell(trial, sum(suggest(trial, search).values()))
    study.sampler = sampler(search, 2)
    killed = study.ask()  # the driver dies here
    finish_interrupted_asks(study, search)
    resumed = study.trials[killed.number].params

    (tmp_path / "twin").mkdir()
    again = open_study(tmp_path / "twin", search)
    for done in study.trials[:2]:
        again.add_trial(done)
    again.sampler = sampler(search, 2)
    assert set(resumed) == {"lr", "steps"} and resumed == suggest(again.ask(), search)


@pytest.mark.slow
def test_a_search_resumes_a_trial_left_without_parameters(tmp_path):
    needs_extra("optuna", "tune")
    command = ("sweep", "optim", *ADAM, *SPACE, "--jobs", "1", "--out", str(tmp_path), "--quiet")
    assert d2l(*command, "--trials", "2").exit_code == 0
    _study(tmp_path).ask()  # as a driver killed between asking trial 3 and suggesting its parameters
    again = d2l(*command, "--trials", "3")
    assert again.exit_code == 0, again.stderr
    trials = _study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 and all("lr" in t.params for t in trials)
