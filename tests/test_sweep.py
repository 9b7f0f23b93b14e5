"""`d2l sweep`: grid keys, the cross product as ordinary runs, and re-issuing that finishes only
what is missing (reusing completed runs, resuming interrupted ones, re-running changed data)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml

from d2l_lab.config.keys import short_names
from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.runs.grid import Request, parse_axis, plan
from d2l_lab.runs.launchers.local import threads_per_job

from .conftest import d2l, write_topic_corpus

TINY = ("--set", "problem.name=quadratic", "--set", "train.steps=5")


def test_grid_keys_are_run_flag_names_or_dotted_keys():
    names = short_names(OptimRunConfig)
    assert names["algo"] == "optimizer.algo" and names["lr"] == "optimizer.lr"
    assert names["problem"] == "problem.name" and names["schedule"] == "schedule.name"
    assert names["batch-size"] == "train.batch_size" and "name" not in names
    assert parse_axis("batch-size=1, 10", OptimRunConfig).key == "train.batch_size"
    assert parse_axis("batch_size=1, 10", OptimRunConfig).name == "batch-size"
    axis = parse_axis("optimizer.lr=1e-3,0.1", OptimRunConfig)
    assert (axis.name, axis.values) == ("lr", ("1e-3", 0.1))
    assert parse_axis("problem.start=[1, 2],[3,4]", OptimRunConfig).values == ([1, 2], [3, 4])
    with pytest.raises(UserError, match="ambiguous: use one of problem.name, schedule.name"):
        parse_axis("name=a,b", OptimRunConfig)


def test_plan_is_the_cross_product_in_grid_order_with_seeds():
    request = Request("optim", ("algo=sgd,adam", "lr=0.1,0.2"), ("seed=5",), seeds=2)
    axes, points = plan(request, OptimRunConfig)
    assert [a.name for a in axes] == ["algo", "lr", "seed"]
    assert [tuple(p.values.values()) for p in points[:3]] == [("sgd", 0.1, 5), ("sgd", 0.1, 6), ("sgd", 0.2, 5)]
    assert len(points) == 8 and len({p.config_hash for p in points}) == 8
    assert points[-1].config.optimizer.algo == "adam" and points[-1].config.seed == 6
    assert points[0].command == ("d2l", "run", "optim", "--set", "seed=5", "--set", "optimizer.algo=sgd",
                                 "--set", "optimizer.lr=0.1", "--set", "seed=5")


def test_a_sweep_reads_each_distinct_data_its_registry_row_names_once(monkeypatch, tmp_path):
    from d2l_lab.cli.sweep_points import check_data
    from d2l_lab.config.schema import all_keys
    from d2l_lab.experiments import embedding_task
    from d2l_lab.experiments.registry import EXPERIMENTS

    for spec in EXPERIMENTS.values():
        assert set(spec.data_keys) <= set(all_keys(spec.config_class)), spec.name
        assert bool(spec.data_keys) == (spec.read_data_path is not None), spec.name
    read = []
    monkeypatch.setattr(embedding_task, "read_corpus", lambda corpus, min_count: read.append((corpus, min_count)))
    corpora = [str(write_topic_corpus(tmp_path / name, 3, 10, 4)) for name in ("a.txt", "b.txt")]
    grid = ("lr=0.1,0.2", "min-count=1,2", f"corpus={','.join(corpora)}")
    _, points = plan(Request("glove", grid), EXPERIMENTS["glove"].config_class)
    check_data(EXPERIMENTS["glove"], points)
    assert len(points) == 8 and sorted(read) == sorted((c, m) for c in corpora for m in (1, 2))
    _, points = plan(Request("optim", ("lr=0.1,0.2",)), OptimRunConfig)
    check_data(EXPERIMENTS["optim"], points)  # its data comes with it: nothing to read
    assert len(read) == 4


def test_threads_are_split_between_jobs():
    assert [threads_per_job(16, j) for j in (1, 2, 4, 16, 32)] == [16, 8, 4, 1, 1]


def _sweep(out, *extra):
    result = d2l("sweep", "optim", "--grid", "algo=sgd,momentum", "--grid", "lr=0.1,0.2", *TINY,
                 "--out", str(out), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_sweep_runs_points_as_runs_and_reissuing_finishes_only_what_is_missing(tmp_path):
    first = _sweep(tmp_path, "--jobs", "2")
    sweep_dir = tmp_path / "sweeps" / first["sweep_dir"].rsplit("/", 1)[-1]
    rows = first["results"]
    assert [(r["values"]["algo"], r["values"]["lr"], r["status"]) for r in rows] == [
        ("sgd", 0.1, "completed"), ("sgd", 0.2, "completed"), ("momentum", 0.1, "completed"),
        ("momentum", 0.2, "completed")]
    runs = [tmp_path / r["run_dir"] for r in rows]
    assert len(set(runs)) == 4 and all((run / "checkpoint.pt").is_file() for run in runs)
    asked = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    assert asked["grid"] == {"optimizer.algo": ["sgd", "momentum"], "optimizer.lr": [0.1, 0.2]}
    assert asked["sets"] == ["problem.name=quadratic", "train.steps=5"]
    with open(sweep_dir / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [(t["algo"], t["lr"], t["status"]) for t in table] == [
        ("sgd", "0.1", "completed"), ("sgd", "0.2", "completed"), ("momentum", "0.1", "completed"),
        ("momentum", "0.2", "completed")]
    assert float(table[0]["loss"]) == json.loads((runs[0] / "summary.json").read_text())["final"]["loss"]
    index = json.loads((sweep_dir / "index.json").read_text())
    assert [p["run_dir"] for p in index["points"]] == [r["run_dir"] for r in rows]
    command = (runs[3] / "command.txt").read_text()
    assert "d2l run optim" in command and "--set optimizer.lr=0.2" in command and f"--out {tmp_path}" in command

    shutil.rmtree(runs[0])  # never finished
    summary = json.loads((runs[1] / "summary.json").read_text())
    (runs[1] / "summary.json").write_text(json.dumps({**summary, "data_checksum": "sha1:other"}))  # data changed
    summary = json.loads((runs[2] / "summary.json").read_text())
    (runs[2] / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))  # killed
    second = _sweep(tmp_path, "--jobs", "1")
    assert second["sweep_dir"] == first["sweep_dir"]
    rows = second["results"]
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert [r["reused"] for r in rows] == [False, False, False, True]
    assert rows[0]["run_dir"] != first["results"][0]["run_dir"] and rows[1]["run_dir"] != first["results"][1]["run_dir"]
    assert rows[2]["run_dir"] == first["results"][2]["run_dir"]  # resumed in place
    assert rows[3]["run_dir"] == first["results"][3]["run_dir"]
    assert len(list((tmp_path / "optim").iterdir())) == 5
    assert len(list((tmp_path / "sweeps").iterdir())) == 1

    compared = d2l("runs", "compare", str(sweep_dir), "--out", str(tmp_path))
    assert compared.exit_code == 0, compared.stderr
    assert "algo=momentum, lr=0.2" in compared.stdout
    assert (sweep_dir / "compare-loss.png").stat().st_size > 10_000


@pytest.mark.slow
def test_seeds_names_diverged_points_and_force(tmp_path):
    args = ("sweep", "optim", "--preset", "quadratic-gd", "--set", "train.steps=30", "--grid", "lr=0.4,1.5",
            "--seeds", "1", "--name", "book-gd", "--jobs", "1", "--out", str(tmp_path), "--json")
    first = d2l(*args)
    assert first.exit_code == 0, first.stderr  # a diverged point is a result of the sweep, not a failure
    summary = json.loads(first.stdout)
    assert summary["sweep_dir"].endswith("sweeps/book-gd")
    assert [(r["values"], r["status"]) for r in summary["results"]] == [
        ({"lr": 0.4, "seed": 0}, "completed"), ({"lr": 1.5, "seed": 0}, "diverged")]
    assert "[lr=1.5, seed=0] warning: loss diverged" in first.stderr
    forced = json.loads(d2l(*args, "--force").stdout)
    assert [r["reused"] for r in forced["results"]] == [False, False]
    assert len(list((tmp_path / "optim").iterdir())) == 4
    other = d2l("sweep", "optim", "--grid", "lr=0.3", "--name", "book-gd", "--out", str(tmp_path))
    assert other.exit_code == 2 and "holds a different request" in other.stderr


@pytest.mark.parametrize(("cores", "workers", "jobs"), [(2, 1, 2), (2, 2, 1), (8, 2, 4), (8, 3, 2), (2, 4, 1)])
def test_local_jobs_default_to_one_per_point_workers_cores(monkeypatch, tmp_path, cores, workers, jobs):
    from d2l_lab.runs.launchers import local
    from d2l_lab.runs.launchers.options import LauncherOptions

    monkeypatch.setattr(local, "available_cores", lambda: cores)
    launcher = local.LocalLauncher(LauncherOptions(jobs=None), ["unused"], None)
    launcher.point_cores = workers
    assert launcher.connect(tmp_path, 10).startswith(f"{jobs} jobs x ")


@pytest.mark.slow
def test_a_sweep_of_two_worker_points_runs_one_at_a_time_on_two_cores(monkeypatch, tmp_path):
    from d2l_lab.runs.launchers import local

    monkeypatch.setattr(local, "available_cores", lambda: 2)
    corpus = write_topic_corpus(tmp_path / "topics.txt", 10, 200, 8)
    result = d2l("sweep", "word2vec", "--grid", "lr=0.05,0.1", "--set", "word2vec.workers=2", "--set",
                 f"corpus={corpus}", "--set", "word2vec.epochs=1", "--set", "word2vec.min_count=1",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "2 points, 1 jobs x 2 threads" in result.stderr and "contend" not in result.stderr


@pytest.mark.parametrize(("jobs", "workers", "warned"), [(2, 2, True), (1, 2, False), (2, 1, False)])
def test_local_jobs_times_word2vec_workers_beyond_the_cores_are_warned_of(monkeypatch, capsys, tmp_path, jobs,
                                                                          workers, warned):
    from d2l_lab.cli.sweep_points import warn_if_oversubscribed
    from d2l_lab.runs.launchers import local
    from d2l_lab.runs.launchers.options import LauncherOptions

    monkeypatch.setattr(local, "available_cores", lambda: 2)
    launcher = local.LocalLauncher(LauncherOptions(jobs=jobs), ["unused"], None)
    launcher.connect(tmp_path, 4)
    warn_if_oversubscribed(launcher, "word2vec", workers)
    expected = "warning: 2 jobs x 2 word2vec workers need 4 cores, this machine has 2: the processes will contend; " \
               "use --jobs 1\n"
    assert capsys.readouterr().err == (expected if warned else "")
