"""`d2l runs list|show|compare|rerun` and `d2l report` over a small outputs root."""

from __future__ import annotations

import json
import re

import pytest

from d2l_lab.runs.verify import VOLATILE_COLUMNS, first_difference

from .conftest import d2l

QUADRATIC = ("run", "optim", "--problem", "quadratic", "--steps", "5", "--quiet")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Two surface runs and one airfoil run, as a user would have made them."""
    out = tmp_path_factory.mktemp("outputs")
    for args in (("--algo", "sgd", "--lr", "0.1"), ("--algo", "momentum", "--lr", "0.1")):
        assert d2l(*QUADRATIC, *args, "--out", str(out)).exit_code == 0
    assert d2l("run", "optim", "--algo", "adam", "--epochs", "1", "--quiet", "--out", str(out)).exit_code == 0
    return out


def _runs(root):
    return json.loads(d2l("runs", "list", "--out", str(root), "--json").stdout)


def _by_algo(root):
    """The fixture's runs by algorithm (runs started in the same second sort by id, not by order)."""
    return {r["params"]["algo"]: r for r in _runs(root)
            if "rerun" not in (root / "optim" / r["id"] / "command.txt").read_text()}


def test_list_shows_key_hyperparameters_final_metric_and_status(root):
    runs = _by_algo(root)
    assert set(runs) == {"sgd", "momentum", "adam"}
    assert runs["adam"]["params"] == {"problem": "airfoil", "algo": "adam", "impl": "scratch", "lr": 0.01,
                                      "batch-size": 10}  # short names, as the run flags
    assert all(r["status"] == "completed" and r["experiment"] == "optim" for r in runs.values())
    assert runs["sgd"]["final"]["loss"] > 0 and runs["sgd"]["age_s"] >= 0
    table = d2l("runs", "list", "--out", str(root), "--status", "completed")
    assert table.exit_code == 0
    assert runs["sgd"]["id"] in table.stdout and "algo=momentum" in table.stdout and "loss=" in table.stdout
    assert json.loads(d2l("runs", "list", "--out", str(root), "--status", "diverged", "--json").stdout) == []


def test_show_by_id_prefix_or_path(root):
    run = _by_algo(root)["adam"]
    shown = d2l("runs", "show", run["id"][:-3], "--out", str(root))
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert text.startswith(f"{run['id']}  (optim)") and "status    completed" in text
    differs = text.split("differs from the defaults:\n")[1].split("\n\n")[0].splitlines()
    # adam's lr 0.01 is adam's own default: only the choice and the shortened training differ
    assert [line.split()[0] for line in differs] == ["optimizer.algo", "train.epochs"]
    assert differs[0].split() == ["optimizer.algo", "adam", "(default", "sgd)"]
    assert re.search(rf"\n  loss +{run['final']['loss']:.6g}\n", text)
    assert "checkpoint.pt" in text and "loss.png" in text
    assert f"d2l run optim --config {run['run_dir']}/config.yaml" in text
    assert "d2l run optim --algo adam --epochs 1" in text  # the command it ran as
    data = json.loads(d2l("runs", "show", run["run_dir"], "--json").stdout)
    assert data["config"]["optimizer"]["algo"] == "adam" and data["summary"]["final"] == run["final"]
    assert any(path.endswith("loss.png") for path in data["artefacts"])


def test_show_compares_a_preset_run_with_its_preset(tmp_path):
    assert d2l("run", "optim", "--preset", "quadratic-momentum", "--steps", "4", "--quiet", "--out",
               str(tmp_path)).exit_code == 0
    (run,) = (tmp_path / "optim").iterdir()
    text = d2l("runs", "show", str(run)).stdout
    differs = text.split("differs from preset 'quadratic-momentum':\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in differs.splitlines()] == ["train.steps"]


def test_compare_overlays_curves_and_prints_a_table(root, tmp_path):
    sgd, momentum = _by_algo(root)["sgd"], _by_algo(root)["momentum"]
    output = tmp_path / "sgd-vs-momentum.png"
    result = d2l("runs", "compare", sgd["id"], momentum["id"], "-o", str(output), "--log-y", "--out", str(root))
    assert result.exit_code == 0, result.stderr
    assert output.stat().st_size > 10_000
    assert "algo=sgd" in result.stdout and "algo=momentum" in result.stdout  # labelled by what differs


def test_rerun_check_passes_for_a_deterministic_run_and_fails_on_a_changed_metric(root):
    run = _by_algo(root)["sgd"]
    result = d2l("runs", "rerun", run["id"], "--check", "--quiet", "--out", str(root))
    assert result.exit_code == 0, result.stderr
    assert "check passed" in result.stderr
    assert sum(r["params"]["algo"] == "sgd" for r in _runs(root)) == 2
    metrics = root / "optim" / run["id"] / "metrics.csv"
    original = metrics.read_text()
    try:
        lines = original.splitlines()
        lines[3] = lines[3].replace(lines[3].split(",")[3], "0.5")  # row 3: step,x1,x2,loss,lr
        metrics.write_text("\n".join(lines) + "\n")
        result = d2l("runs", "rerun", run["id"], "--check", "--quiet", "--out", str(root))
        assert result.exit_code == 4
        assert "check failed" in result.stderr and "row 3, column 'loss'" in result.stderr
    finally:
        metrics.write_text(original)


def test_the_check_ignores_columns_that_measure_time(tmp_path):
    stored, new = tmp_path / "a.csv", tmp_path / "b.csv"
    stored.write_text("epoch,loss,words_per_s,wall_time\n1,0.5,1000.0,3.1\n")
    new.write_text("epoch,loss,words_per_s,wall_time\n1,0.5,1211.5,2.9\n")
    assert {"words_per_s", "wall_time", "seconds"} <= VOLATILE_COLUMNS
    assert first_difference(stored, new) is None
    new.write_text("epoch,loss,words_per_s,wall_time\n1,0.5,1211.5,2.9\n2,0.4,1000.0,3.0\n")
    assert first_difference(stored, new) == "stored metrics have 1 rows, the re-run 2"


def test_report_html_is_self_contained_and_markdown_writes_pngs_beside(root, tmp_path):
    ids = [r["id"] for r in _by_algo(root).values()]
    page = tmp_path / "report.html"
    result = d2l("report", *ids, "-o", str(page), "--out", str(root))
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2  # surface steps and airfoil epochs: two groups
    assert "src=\"http" not in text and "algo=momentum" in text and "<table>" in text
    markdown = tmp_path / "report.md"
    assert d2l("report", *ids, "-o", str(markdown), "--out", str(root)).exit_code == 0
    assert "![optim: loss vs epoch (1 run)](report-1.png)" in markdown.read_text()
    assert (tmp_path / "report-1.png").stat().st_size > 5_000 and (tmp_path / "report-2.png").is_file()
