"""Two sweeps that share points run each point once (issue 12): a point is claimed with an fcntl
lock under OUT/.point-locks, and completed runs are looked up again once it is held (under --force,
those completed since the sweep started)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from d2l_lab import exit_codes
from d2l_lab.runs.worker import _point_lock

D2L = [sys.executable, "-m", "d2l_lab"]


def test_the_point_lock_excludes_a_second_holder_until_released(tmp_path):
    config = {"seed": 0}
    order: list[str] = []
    with _point_lock(tmp_path, "optim", config, lambda: False) as held:
        assert held
        second = threading.Thread(target=lambda: order.append(_take(tmp_path, config)))
        second.start()
        second.join(0.5)
        assert second.is_alive() and order == []  # waiting
        order.append("first released")
    second.join(5)
    assert order == ["first released", "taken"]


def _take(out: Path, config: dict) -> str:
    with _point_lock(out, "optim", config, lambda: False) as held:
        return "taken" if held else "refused"


def test_a_waiting_claim_gives_up_when_asked_to_stop(tmp_path):
    config = {"seed": 1}
    with _point_lock(tmp_path, "optim", config, lambda: False):
        with _point_lock(tmp_path, "optim", config, lambda: True) as held:
            assert held is False
    with _point_lock(tmp_path, "optim", {"seed": 2}, lambda: True) as held:
        assert held  # another point's lock is free: taken at once, whatever should_stop says


@pytest.mark.slow
def test_the_worker_reports_interrupted_when_stopped_while_waiting(tmp_path):
    from d2l_lab.config.loading import compose
    from d2l_lab.config.schema import to_dict
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.worker import run_point

    spec = experiment("optim")
    config = to_dict(compose(spec.config_class, "optim", sets=["problem.name=quadratic", "train.steps=3"]))

    def build(name, data):
        from d2l_lab.config.schema import from_dict
        return from_dict(spec.config_class, data), spec.build_task()

    request = {"experiment": "optim", "config": config, "out": str(tmp_path), "command": ["d2l"], "reuse": [],
               "resume": []}
    with _point_lock(tmp_path, "optim", config, lambda: False):
        result = run_point(request, build, lambda: True)
    assert result["exit"] == exit_codes.INTERRUPTED and result["summary"] is None
    assert not (tmp_path / "optim").exists()  # nothing ran


@pytest.mark.slow
def test_two_identical_sweeps_started_together_run_each_point_once(tmp_path):
    args = [*D2L, "sweep", "optim", "--grid", "lr=0.01,0.02,0.03,0.05", "--set", "train.epochs=1",
            "--set", "train.batch_size=10", "--name", "same", "--jobs", "1", "--quiet", "--json",
            "--out", str(tmp_path)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    runs = [p for p in (tmp_path / "optim").iterdir() if p.is_dir()]
    assert len(runs) == 4, sorted(r.name for r in runs)  # not 8
    reused = sum(json.loads(out)["reused"] for out, _ in outputs)
    assert reused == 4  # every point ran in one sweep and was reused by the other
    with open(tmp_path / "sweeps" / "same" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert {r["run_dir"] for r in rows} == {f"optim/{r.name}" for r in runs}


@pytest.mark.slow
def test_two_forced_sweeps_started_together_rerun_each_point_once(tmp_path):
    """--force re-runs what completed before the sweep started, but a run of the point that the
    other forced sweep completes meanwhile is reused: each point runs once more, not twice."""
    args = [*D2L, "sweep", "optim", "--grid", "lr=0.01,0.02,0.03", "--set", "problem.name=quadratic",
            "--set", "train.steps=400", "--name", "forced", "--jobs", "1", "--quiet", "--json", "--out", str(tmp_path)]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = {p.name for p in (tmp_path / "optim").iterdir()}
    procs = [subprocess.Popen([*args, "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    new = {p.name for p in (tmp_path / "optim").iterdir()} - before
    assert len(new) == 3, sorted(new)  # not 6, and none of the earlier runs reused
    results = [json.loads(out) for out, _ in outputs]
    assert sum(r["reused"] for r in results) == 3
    assert all({Path(row["run_dir"]).name for row in r["results"]} == new for r in results)
