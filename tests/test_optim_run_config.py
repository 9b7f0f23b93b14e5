"""A saved optim config holds exactly the fields its problem, schedule and algorithm read: a
setting the run would ignore is refused, and what is saved reads back to the same config."""

from __future__ import annotations

import itertools

import pytest

from d2l_lab.config.loading import compose, dump_yaml
from d2l_lab.config.schema import to_dict
from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.config import OptimRunConfig
from tests.conftest import d2l


def _compose(**flags: object) -> OptimRunConfig:
    return compose(OptimRunConfig, "optim", flags=flags)


@pytest.mark.parametrize(("problem", "schedule"), list(itertools.product(
    ("airfoil", "quadratic", "rosenbrock", "beale"), ("constant", "exponential", "step", "cosine"))))
def test_saved_config_reads_back_identical_for_every_problem_and_schedule(tmp_path, problem, schedule):
    config = _compose(**{"problem.name": problem, "schedule.name": schedule})
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(config))
    assert compose(OptimRunConfig, "optim", config_file=path) == config


def test_airfoil_saves_its_budget_in_epochs_and_a_surface_in_steps():
    airfoil = to_dict(_compose())
    assert airfoil["train"] == {"batch_size": 10, "epochs": 2, "eval_every": 200}
    assert airfoil["problem"] == {"name": "airfoil", "examples": 1500, "dtype": "float64"}
    quadratic = to_dict(_compose(**{"problem.name": "quadratic"}))
    assert quadratic["train"] == {"steps": 20}
    # The start is stated as a number, not "the problem's own": the config alone reproduces the run.
    assert quadratic["problem"] == {"name": "quadratic", "start": [-5.0, -2.0], "coefficients": [0.1, 2.0],
                                    "dtype": "float64"}
    assert to_dict(_compose(**{"problem.name": "beale"}))["problem"]["start"] == [1.0, 1.0]


def test_a_schedule_saves_only_its_own_settings():
    assert to_dict(_compose())["schedule"] == {"name": "constant"}
    assert to_dict(_compose(**{"schedule.name": "step"}))["schedule"] == {"name": "step", "factor": 0.99,
                                                                           "step_size": 100}
    assert to_dict(_compose(**{"schedule.name": "cosine"}))["schedule"] == {"name": "cosine", "min_lr_ratio": 0.0}


@pytest.mark.parametrize(("flags", "message"), [
    ({"train.steps": 5}, "problem 'airfoil' does not use train.steps: it uses batch_size, epochs, eval_every"),
    ({"problem.name": "quadratic", "train.epochs": 3}, "problem 'quadratic' does not use train.epochs: it uses steps"),
    ({"problem.examples": 100, "problem.name": "beale"}, "problem 'beale' does not use problem.examples"),
    ({"problem.coefficients": (1.0, 2.0)}, "problem 'airfoil' does not use problem.coefficients"),
    ({"schedule.factor": 0.5}, "schedule 'constant' does not use schedule.factor; drop schedule.factor, or "
                               "change the schedule"),
    ({"schedule.name": "cosine", "schedule.step_size": 10}, "schedule 'cosine' does not use schedule.step_size"),
])
def test_a_setting_the_run_would_ignore_is_refused(flags, message):
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        _compose(**flags)


def test_the_batch_size_is_checked_against_the_examples_used():
    with pytest.raises(UserError, match="'train.batch_size' is 200 but the data has only 100 examples"):
        _compose(**{"problem.examples": 100, "train.batch_size": 200})


def test_an_ignored_flag_is_one_line_and_exit_2(tmp_path):
    result = d2l("run", "optim", "--steps", "5", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: problem 'airfoil' does not use --steps: it uses batch_size, epochs, eval_every; drop --steps, or "
        "change the problem"]  # the flag typed, named as typed
    assert not (tmp_path / "optim").exists()
