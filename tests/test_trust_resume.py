"""`--resume` continues only the run its checkpoint was made for: same experiment, config and data;
a finished run is left exactly as it is; an interrupted run's summary shows the step it reached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from d2l_lab.experiments.registry import experiment
from d2l_lab.runs.runner import RunOptions, execute

from .conftest import d2l, only_run_dir

STEPS = 20


def _interrupted(out: Path, name: str = "run", after: int = 5, exp: str = "optim", **sets: str) -> Path:
    """A run of `exp` stopped (as Ctrl-C stops it) after `after` steps; returns its directory."""
    from d2l_lab.config.loading import compose

    spec = experiment(exp)
    defaults = {"problem.name": "quadratic", "train.steps": str(STEPS)} if exp == "optim" else {}
    config = compose(spec.config_class, exp, sets=[f"{k}={v}" for k, v in {**defaults, **sets}.items()])
    asked = iter(range(10**6))
    result = execute(exp, config, spec.build_task(), RunOptions(out_root=out, name=name),
                     should_stop=lambda: next(asked) >= after)
    assert result.exit_code == 130
    return result.run_dir


def _as_old_checkpoint(run: Path) -> None:
    """Make the run's checkpoint look like one from before checkpoints recorded what made them."""
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    for key in ("config", "config_hash", "data_checksum", "experiment", "start_loss"):
        state.pop(key)
    torch.save(state, run / "checkpoint.pt")


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def _refused(run: Path, pattern: str) -> None:
    before = _files(run)
    result = d2l("run", "optim", "--resume", str(run))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert _files(run) == before


def test_an_interrupted_summary_shows_the_step_reached_not_the_planned_count(tmp_path):
    run = _interrupted(tmp_path, after=5)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["steps_done"] == 5 and summary["total_steps"] == STEPS
    rows = (run / "metrics.csv").read_text().splitlines()
    last = rows[-1].split(",")
    assert last[0] == "5" and float(last[3]) == pytest.approx(summary["final"]["loss"])


def test_an_interrupted_airfoil_summary_counts_the_steps_reached(tmp_path):
    run = _interrupted(tmp_path, after=7, **{"problem.name": "airfoil", "train.steps": "null",
                                             "train.epochs": "1", "train.batch_size": "100"})
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["steps"] == 7 == summary["steps_done"]
    assert summary["total_steps"] == 15


def test_resume_of_an_untouched_interrupted_run_completes_it(tmp_path):
    run = _interrupted(tmp_path)
    result = d2l("run", "optim", "--resume", str(run), "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps_done"] == STEPS


def test_resume_refuses_an_edited_config_naming_the_change(tmp_path):
    run = _interrupted(tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["optimizer"]["lr"] = 0.123
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _refused(run, r"config.yaml' changed since the checkpoint .*optimizer.lr: .* -> ")


def test_resume_refuses_an_edited_config_of_an_old_checkpoint_by_the_summary_hash(tmp_path):
    """A checkpoint from before checkpoints recorded their config: summary.json's hash decides."""
    run = _interrupted(tmp_path)
    _as_old_checkpoint(run)
    (run / "config.yaml").write_text(re.sub(r"steps: \d+", "steps: 30", (run / "config.yaml").read_text()))
    _refused(run, r"changed since the checkpoint was made \(config hash ")


def test_resume_of_an_old_checkpoint_with_its_config_unchanged_completes(tmp_path):
    run = _interrupted(tmp_path)
    _as_old_checkpoint(run)
    assert d2l("run", "optim", "--resume", str(run), "--quiet").exit_code == 0


@pytest.mark.slow
def test_resume_refuses_an_airfoil_checkpoint_made_on_other_data(tmp_path):
    run = _interrupted(tmp_path, after=3, **{"problem.name": "airfoil", "train.steps": "null",
                                             "train.epochs": "1", "train.batch_size": "100"})
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["data_checksum"] = "sha256:not-the-airfoil-data"
    torch.save(state, run / "checkpoint.pt")
    _refused(run, r"the data of .* changed since the checkpoint was made \(data checksum sha256:not-the")


@pytest.mark.slow
def test_resume_refuses_a_reshuffled_corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    lines = [" ".join(f"w{(i * 7 + j) % 30}" for j in range(12)) for i in range(60)]
    corpus.write_text("\n".join(lines) + "\n")
    run = _interrupted(tmp_path / "out", after=1, exp="word2vec", corpus=str(corpus), **{
        "word2vec.epochs": "3", "word2vec.min_count": "1", "word2vec.dim": "8"})
    corpus.write_text("\n".join(reversed(lines)) + "\n")  # same words, same vocabulary, other order
    before = _files(run)
    result = d2l("run", "word2vec", "--resume", str(run))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "data checksum" in result.stderr and "changed since the checkpoint" in result.stderr
    assert _files(run) == before


@pytest.mark.parametrize("status", ["completed", "diverged"])
def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path, status):
    args = ("--problem", "quadratic", "--out", str(tmp_path), "--quiet")
    if status == "diverged":  # docs/results.md's example: GD at lr 0.6 > 2/lambda_max for 20 steps
        args += ("--algo", "sgd", "--lr", "0.6", "--steps", "20")
    first = d2l("run", "optim", *args)
    assert first.exit_code == (0 if status == "completed" else 3)
    run = only_run_dir(tmp_path / "optim")
    assert json.loads((run / "summary.json").read_text())["status"] == status
    before = _files(run)
    result = d2l("run", "optim", "--resume", str(run), "--json")
    assert result.exit_code == 0, result.output
    assert f"already {status}" in result.stderr and "nothing changed" in result.stderr
    assert json.loads(result.stdout)["status"] == status
    assert _files(run) == before


def test_resume_refuses_a_run_of_another_experiment(tmp_path):
    run = _interrupted(tmp_path)
    result = d2l("run", "glove", "--resume", str(run))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "is a run of optim, not glove" in result.stderr


@pytest.mark.parametrize(("edit", "pattern"), [
    (lambda s: [1, 2, 3], r"not a d2l-lab checkpoint \(it holds a list\)"),
    (lambda s: {k: v for k, v in s.items() if k != "rng"}, r"missing or wrong 'rng'"),
    (lambda s: {**s, "step": "five"}, r"missing or wrong 'step'"),
    (lambda s: {**s, "experiment": "glove"}, r"made by a glove run, not optim"),
    (lambda s: {**s, "task": {**s["task"], "params": [torch.zeros(7)]}}, r"does not fit this run's model"),
    (lambda s: {**s, "task": {"weights": torch.zeros(2)}}, r"does not fit this run's model"),
    (lambda s: {**s, "rng": {"cpu": torch.zeros(3)}}, r"does not fit this run's model"),
])
def test_a_checkpoint_of_the_wrong_kind_shape_or_keys_is_bad_input(tmp_path, edit, pattern):
    run = _interrupted(tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save(edit(state), run / "checkpoint.pt")
    _refused(run, pattern)
