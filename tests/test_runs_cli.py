"""`d2l runs list|show|compare|rerun` and `d2l report` over a small outputs root."""

from __future__ import annotations

import json
import re

import pytest
import yaml

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
    assert runs["sgd"]["id"] in table.stdout and "algo=momentum" in table.stdout
    assert table.stdout.splitlines()[1].split() == ["id", "seed", "params", "loss", "status", "age"]
    assert json.loads(d2l("runs", "list", "--out", str(root), "--status", "diverged", "--json").stdout) == []


def _fake_run(out, experiment, name, seed, config, final):
    run = out / experiment / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": seed, **config}, sort_keys=False))
    (run / "summary.json").write_text(json.dumps({"experiment": experiment, "status": "completed", "seed": seed,
                                                  "started_at": "2026-12-07T10:00:00+0000", "final": final}))


def test_list_fits_80_columns_shows_seeds_leaves_unused_settings_out_and_an_embedding_s_rho(tmp_path,
                                                                                           monkeypatch):
    """One line per run on an 80-column terminal, a table per experiment and problem or corpus; the
    seeds of one configuration told apart; the quadratic's batch size (unused: null) and PTB's
    corpus (null) not shown as `batch-size=`; an embedding run's WordSim-353 rho, not its loss."""
    def surface(algo, lr):
        return {"problem": {"name": "quadratic"}, "optimizer": {"algo": algo, "impl": "scratch", "lr": lr},
                "train": {"batch_size": None}}

    for seed in (0, 1, 2):
        _fake_run(tmp_path, "optim", f"20261207-10000{seed}-0000000{seed}", seed, surface("sgd", 0.4), {"loss": 1.1})
    _fake_run(tmp_path, "optim", "20261207-100003-00000003", 0, surface("momentum", 0.04), {"loss": 0.5})
    airfoil = {"problem": {"name": "airfoil"}, "optimizer": {"algo": "adam", "impl": "scratch", "lr": 0.01},
               "train": {"batch_size": 10}}
    _fake_run(tmp_path, "optim", "20261207-100004-00000004", 0, airfoil, {"loss": 0.2436})
    ptb = {"corpus": None, "word2vec": {"model": "skipgram", "dim": 100, "window": 5}}
    _fake_run(tmp_path, "word2vec", "20261207-100005-00000005", 0, ptb, {"loss": 2.5, "wordsim353_rho": 0.3812})
    monkeypatch.setenv("COLUMNS", "80")
    result = d2l("runs", "list", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    assert [lines[i] for i in (0, 7, 11)] == ["optim: problem=quadratic impl=scratch",
                                              "optim: problem=airfoil algo=adam impl=scratch lr=0.01 batch-size=10",
                                              "word2vec: model=skipgram dim=100 window=5"]
    assert lines[1].split() == ["id", "seed", "params", "loss", "status", "age"]
    rows = [line.split() for line in lines if line.startswith("20261207")]
    assert [row[1:4] for row in rows[:4]] == [["0", "algo=sgd", "lr=0.4"], ["1", "algo=sgd", "lr=0.4"],
                                              ["2", "algo=sgd", "lr=0.4"], ["0", "algo=momentum", "lr=0.04"]]
    assert lines[12].split() == ["id", "seed", "wordsim353_rho", "status", "age"] and rows[-1][2] == "0.3812"


def test_report_labels_by_what_differs_and_equal_values_of_seeds_have_no_plus_minus_zero(tmp_path):
    """Adam's beta1 is a setting the SGD run does not use, not a difference; the seeds' equal step
    counts are `300 (n=2)`, not `300 ± 0 (n=2)`; `+1` says what it counts."""
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.runs import report
    from d2l_lab.runs.catalog import select

    adam = {"optimizer": {"algo": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999}}
    for seed, loss in ((0, 0.24), (1, 0.26)):
        _fake_run(tmp_path, "optim", f"20261207-10000{seed}-0000000{seed}", seed, adam, {"loss": loss, "steps": 300})
    _fake_run(tmp_path, "optim", "20261207-100002-00000002", 0, {"optimizer": {"algo": "sgd", "lr": 0.05}},
              {"loss": 0.3, "steps": 300})
    runs = [str(path) for path in sorted((tmp_path / "optim").iterdir())]
    columns, rows = report.table(select(runs, tmp_path, catalog_experiments()))
    cells = [dict(zip(columns, row)) for row in rows]
    assert [c["label"] for c in cells] == ["algo=adam, lr=0.01", "algo=sgd, lr=0.05"]
    assert [c["steps"] for c in cells] == ["300 (n=2)", "300"] and cells[0]["loss"] == "0.250 ± 0.014 (n=2)"
    assert cells[0]["run"] == "20261207-100000-00000000 +1 more seed"


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
