"""`d2l run optim` end to end: run directories, the book's numbers, reproducibility, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
import yaml

from d2l_lab.config.loading import available_presets
from d2l_lab.runs.checkpoint import load_checkpoint
from d2l_lab.runs.metrics import read_metrics

from .conftest import d2l, only_run_dir
from .doc_pages import assert_quoted, table_rows

RUN_FILES = {"config.yaml", "command.txt", "metrics.csv", "summary.json", "loss.png", "checkpoint.pt"}

# docs/results.md "Optimizers on airfoil": final loss per preset, to the 4 decimals quoted there; and
# "Optimizers on the quadratic": its end points to 6 (the book's numbers). The README quotes Adam's
# loss and momentum's end point in its tour.
RESULTS_AIRFOIL_LOSS = {
    "gd": 0.2458, "sgd": 0.2428, "minibatch-sgd": 0.2428, "momentum": 0.2425, "nesterov": 0.2425,
    "adagrad": 0.2422, "rmsprop": 0.2424, "adadelta": 0.2424, "adam": 0.2432, "adamw": 0.2433,
    "yogi": 0.2432, "lion": 0.2426, "nadam": 0.2426, "radam": 0.2620,
}
RESULTS_QUADRATIC_END = {"quadratic-gd": (-0.943467, -0.000073), "quadratic-momentum": (0.007188, 0.002553),
                         "quadratic-adagrad": (-2.382564, -0.158591), "quadratic-rmsprop": (-0.010598, 0.000000)}
BOOK_PRINTS = {"quadratic-gd": (-0.943467, -0.000073), "quadratic-momentum": (0.007188, 0.002553),
               "quadratic-adagrad": (-2.382563, -0.158591), "quadratic-rmsprop": (-0.010599, 0.000000)}
"""What the book prints after its 20 steps (12.6.1, 12.7.3, 12.8.3). Its AdaGrad and RMSProp divide by
sqrt(s + eps), ours (torch's) by sqrt(s) + eps: the end points differ by under 1e-6, in the 6th decimal."""


def test_every_preset_is_quoted_in_the_results_table():
    assert set(available_presets("optim")) == set(RESULTS_AIRFOIL_LOSS) | set(RESULTS_QUADRATIC_END)
    quoted = {row[0].strip("`"): float(row[2]) for row in table_rows("results.md", "Optimizers on airfoil")}
    assert quoted == RESULTS_AIRFOIL_LOSS, "docs/results.md's airfoil table and this test disagree"
    for x1, x2 in RESULTS_QUADRATIC_END.values():
        assert_quoted("results.md", f"({x1:.6f}, {x2:.6f})")
    assert_quoted("README.md", f"Adam ends at {RESULTS_AIRFOIL_LOSS['adam']}",
                  "({:.6f}, {:.6f})".format(*RESULTS_QUADRATIC_END["quadratic-momentum"]))


@pytest.mark.slow
def test_airfoil_run_writes_a_complete_run_dir(tmp_path):
    result = d2l("run", "optim", "--algo", "adam", "--lr", "0.01", "--out", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "optim")
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["device"] == "cpu" and summary["seed"] == 0
    assert summary["data_checksum"].startswith("sha1:76e5be15")
    assert set(summary["versions"]) >= {"torch", "numpy", "python"}
    rows = read_metrics(run / "metrics.csv")
    assert [int(r["examples"]) for r in rows[:3]] == [0, 200, 400]
    assert len(rows) == 1 + 3000 // 200
    assert summary["final"]["loss"] == pytest.approx(float(rows[-1]["loss"]))
    assert round(summary["final"]["loss"], 4) == RESULTS_AIRFOIL_LOSS["adam"]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 300 and state["metric_rows"] == len(rows)


@pytest.mark.slow
def test_book_momentum_on_the_quadratic_prints_one_json_line(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--algo", "momentum", "--lr", "0.6",
                 "--momentum", "0.5", "--json", "--out", str(tmp_path))
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    final = json.loads(lines[0])["final"]
    assert (round(final["x1"], 6), round(final["x2"], 6)) == (0.007188, 0.002553)
    assert (only_run_dir(tmp_path / "optim") / "trajectory.png").stat().st_size > 10_000


def test_book_gradient_descent_numbers_and_stability_report(tmp_path):
    result = d2l("run", "optim", "--preset", "quadratic-gd", "--json", "--out", str(tmp_path))
    summary = json.loads(result.stdout)
    assert (round(summary["final"]["x1"], 6), round(summary["final"]["x2"], 6)) == (-0.943467, -0.000073)
    assert summary["notes"]["hessian_eigenvalues"] == pytest.approx([0.2, 4.0])
    assert summary["notes"]["condition_number"] == pytest.approx(20.0)
    assert summary["notes"]["max_stable_gd_lr"] == pytest.approx(0.5)


@pytest.mark.parametrize(("args", "warning"), [
    (["--preset", "quadratic-momentum", "--lr", "0.8"], "lr 0.8 exceeds 0.75, the largest stable momentum step"),
    (["--preset", "quadratic-momentum", "--algo", "nesterov", "--lr", "0.4"],
     "lr 0.4 exceeds 0.375, the largest stable nesterov step"),  # 2(1 + mu) / ((1 + 2mu) lambda)
])
def test_momentum_stability_limits_come_from_the_table(tmp_path, args, warning):
    result = d2l("run", "optim", *args, "--steps", "2", "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0 and warning in result.stderr


def test_lr_above_the_stable_limit_warns_and_x2_diverges(tmp_path):
    result = d2l("run", "optim", "--preset", "quadratic-gd", "--lr", "0.6", "--json", "--out", str(tmp_path))
    assert result.exit_code == 3  # the loss ends 5e5x where it started: diverged, not completed
    assert "exceeds 0.5, the largest stable sgd step" in result.stderr
    assert json.loads(result.stdout)["status"] == "diverged"
    final = json.loads(result.stdout)["final"]
    assert abs(final["x2"]) > 1000 > abs(final["x1"])


def test_divergence_exits_3_keeps_outputs_and_suggests_a_stable_lr(tmp_path):
    result = d2l("run", "optim", "--preset", "quadratic-gd", "--lr", "1.5", "--steps", "50", "--quiet",
                 "--out", str(tmp_path))
    assert result.exit_code == 3
    assert "try --lr 0.45" in result.stderr
    run = only_run_dir(tmp_path / "optim")
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"
    assert (run / "metrics.csv").exists() and (run / "loss.png").exists()


def test_rerunning_a_config_reproduces_metrics_byte_for_byte(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert d2l("run", "optim", "--preset", "rmsprop", "--seed", "3", "--quiet", "--out", str(first)).exit_code == 0
    run = only_run_dir(first / "optim")
    assert d2l("run", "optim", "--config", str(run / "config.yaml"), "--quiet", "--out", str(second)).exit_code == 0
    rerun = only_run_dir(second / "optim")
    assert (run / "metrics.csv").read_bytes() == (rerun / "metrics.csv").read_bytes()
    assert (run / "config.yaml").read_bytes() == (rerun / "config.yaml").read_bytes()


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from d2l_lab.experiments.optim import tasks

    args = ("run", "optim", "--preset", "momentum", "--quiet")
    assert d2l(*args, "--out", str(tmp_path / "full")).exit_code == 0
    original_step = tasks.AirfoilTask.train_step

    def interrupt_at_step_200(self, step):
        if step == 200:
            raise KeyboardInterrupt
        return original_step(self, step)

    monkeypatch.setattr(tasks.AirfoilTask, "train_step", interrupt_at_step_200)
    assert d2l(*args, "--out", str(tmp_path / "cut")).exit_code == 130
    cut = only_run_dir(tmp_path / "cut" / "optim")
    assert json.loads((cut / "summary.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(tasks.AirfoilTask, "train_step", original_step)
    assert d2l("run", "optim", "--resume", str(cut), "--quiet").exit_code == 0
    full = only_run_dir(tmp_path / "full" / "optim")
    assert (cut / "metrics.csv").read_bytes() == (full / "metrics.csv").read_bytes()
    assert json.loads((cut / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
@pytest.mark.parametrize("preset", available_presets("optim"))
def test_every_preset_reproduces_the_numbers_in_docs_results(tmp_path, preset):
    result = d2l("run", "optim", "--preset", preset, "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    final = json.loads(result.stdout)["final"]
    if preset in RESULTS_QUADRATIC_END:
        assert (round(final["x1"], 6), round(final["x2"], 6)) == RESULTS_QUADRATIC_END[preset]
        assert (final["x1"], final["x2"]) == pytest.approx(BOOK_PRINTS[preset], abs=1e-6)
    else:
        assert round(final["loss"], 4) == RESULTS_AIRFOIL_LOSS[preset]


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("schedule", ["constant", "exponential", "step", "cosine"])
def test_schedules_and_implementations_run(tmp_path, impl, schedule):
    result = d2l("run", "optim", "--algo", "adam", "--impl", impl, "--schedule", schedule, "--epochs", "1",
                 "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    rows = read_metrics(only_run_dir(tmp_path / "optim") / "metrics.csv")
    lrs = [float(r["lr"]) for r in rows]
    assert (len(set(lrs)) == 1) == (schedule == "constant")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "adamm"], "--algo must be one of .*did you mean 'adam'"),  # the flag typed, not its key
        (["--algo", "sgd", "--momentum", "0.9"],
         "algo 'sgd' does not use --momentum: it uses lr, weight_decay; drop --momentum, or change the algo"),
        (["--set", "optimizer.algo=sgd", "--set", "optimizer.momentum=0.9"],
         "algo 'sgd' does not use optimizer.momentum: it uses lr, weight_decay; drop optimizer.momentum, or"),
        (["--preset", "adam", "--gamma", "0.9"], "algo 'adam' does not use --gamma: it uses lr, beta1, beta2"),
        (["--algo", "lion", "--impl", "torch"], "algo 'lion' has no torch.optim twin: use --impl scratch"),
        (["--lr", "-0.1"], "--lr must be > 0"),
        (["--momentum", "1"], "--momentum must be >= 0 and < 1"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--set", "optimizer.betta1=0.8"], "did you mean 'optimizer.beta1'"),
        (["--device", "cuda:7"], "CUDA is not available|only .* CUDA device"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--config", "missing.yaml"], "config file 'missing.yaml' does not exist"),
        (["--name", "../escape"], "run name '../escape' is not allowed"),
        (["--resume", "not-a-run"], "not a run directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = d2l("run", "optim", *args, "--out", str(tmp_path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "optim").exists() or not any((tmp_path / "optim").iterdir())


def test_malformed_yaml_config_is_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: {lr: 0.1\n")
    result = d2l("run", "optim", "--config", str(bad), "--out", str(tmp_path))
    assert result.exit_code == 2 and "malformed YAML" in result.stderr and "Traceback" not in result.stderr


def test_print_config_and_dry_run_train_nothing(tmp_path):
    result = d2l("run", "optim", "--preset", "adam", "--print-config", "--out", str(tmp_path))
    assert result.exit_code == 0 and "algo: adam" in result.stdout
    result = d2l("run", "optim", "--algo", "sgd", "--print-config", "--out", str(tmp_path))
    assert yaml.safe_load(result.stdout)["optimizer"] == {"algo": "sgd", "impl": "scratch", "lr": 0.05,
                                                          "weight_decay": 0.0}
    result = d2l("run", "optim", "--preset", "adam", "--dry-run", "--out", str(tmp_path))
    assert result.exit_code == 0 and "dry run" in result.stderr
    assert not (tmp_path / "optim").exists()


@pytest.mark.slow
def test_two_runs_in_the_same_second_get_distinct_dirs(tmp_path):
    for _ in range(2):
        assert d2l("run", "optim", "--preset", "quadratic-gd", "--quiet", "--out", str(tmp_path)).exit_code == 0
    assert len(list((tmp_path / "optim").iterdir())) == 2


def test_help_does_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from d2l_lab.cli.main import app; "
            "r = CliRunner().invoke(app, ['run', 'optim', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--lr' in r.output; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_checkpoint_loads_with_weights_only(tmp_path):
    d2l("run", "optim", "--preset", "quadratic-gd", "--quiet", "--out", str(tmp_path))
    path = only_run_dir(tmp_path / "optim") / "checkpoint.pt"
    assert torch.load(path, weights_only=True)["step"] == 20


@pytest.mark.slow
def test_compare_of_the_books_four_quadratic_presets_draws_four_paths_and_a_gif(tmp_path, monkeypatch):
    from PIL import Image

    from d2l_lab import plotting

    for preset in BOOK_PRINTS:
        assert d2l("run", "optim", "--preset", preset, "--quiet", "--out", str(tmp_path)).exit_code == 0
    runs = sorted(str(p) for p in (tmp_path / "optim").iterdir())
    saved, save = [], plotting.save
    monkeypatch.setattr(plotting, "save", lambda fig, path: (saved.append(fig), save(fig, path)))
    result = d2l("runs", "compare", *runs, "--animate", "-o", str(tmp_path / "book.png"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    (fig,) = [f for f in saved if f.axes[0].get_xlabel() == "x1"]  # the other is the loss curves
    paths = [line for line in fig.axes[0].get_lines() if "(20 steps)" in line.get_label()]
    assert sorted(line.get_label().split("algo=")[1].split()[0].strip(",") for line in paths) == [
        "adagrad", "momentum", "rmsprop", "sgd"]
    ends = {(round(line.get_xdata()[-1], 6), round(line.get_ydata()[-1], 6)) for line in paths}
    assert ends == set(RESULTS_QUADRATIC_END.values())
    assert (tmp_path / "book-paths.png").read_bytes().startswith(b"\x89PNG")
    with Image.open(tmp_path / "book-paths.gif") as gif:
        assert gif.n_frames == 21  # steps 0..20
