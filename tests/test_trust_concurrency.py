"""Two sweeps that share points run each point once (issue 12): a point is claimed with an fcntl
lock under OUT/.point-locks, and completed runs are looked up again once it is held (under --force,
those completed since the sweep started). One writer per run directory (issue 23): the process
training a run holds its lock, so a `--resume` of it or a twin sweep point is refused, `runs list`
says `running` only while the lock is held, and a run whose process is gone is `interrupted`."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from d2l_lab import exit_codes
from d2l_lab.errors import UserError
from d2l_lab.runs import writer
from d2l_lab.runs.worker import _point_lock

from .conftest import d2l, listed_status, only_run_dir, start_paused, tiny_word2vec, wait_for

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

    request = {"experiment": "optim", "config": config, "out": str(tmp_path), "command": ["d2l"], "exclude": []}
    with _point_lock(tmp_path, "optim", config, lambda: False):
        result = run_point(request, build, lambda: True)
    assert result["exit"] == exit_codes.INTERRUPTED and result["summary"] is None
    assert not (tmp_path / "optim").exists()  # nothing ran


@pytest.mark.slow
def test_a_point_stopped_after_its_request_was_made_is_resumed_not_trained_again(tmp_path):
    """A re-issued sweep may hand out a point while a killed sweep's worker is still
    checkpointing it (that worker sees its parent die within PARENT_POLL_S). The point looks for
    runs to resume only once it holds the point's lock, so the run that worker left interrupted is
    resumed, to the uninterrupted result, not trained again in a second directory."""
    from d2l_lab.config.loading import compose
    from d2l_lab.config.schema import from_dict, to_dict
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.worker import run_point

    spec = experiment("optim")
    config = to_dict(compose(spec.config_class, "optim", sets=["problem.name=quadratic", "train.steps=6"]))

    def build(name, data):
        return from_dict(spec.config_class, data), spec.build_task()

    def request(out):
        return {"experiment": "optim", "config": config, "out": str(out), "command": ["d2l"], "exclude": []}

    checks = iter(range(100))
    stopped = run_point(request(tmp_path), build, lambda: next(checks) >= 2)  # stops after a step or two
    assert stopped["exit"] == exit_codes.INTERRUPTED and 0 < stopped["summary"]["steps_done"] < 6
    again = run_point(request(tmp_path), build, lambda: False)
    alone = run_point(request(tmp_path / "alone"), build, lambda: False)
    assert again["resumed"] and again["exit"] == exit_codes.OK and len(list((tmp_path / "optim").iterdir())) == 1
    assert again["summary"]["final"] == alone["summary"]["final"]


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


# --- one writer per run directory (issue 23) ------------------------------------------------------

def _checksums(run: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_a_run_in_training_refuses_a_resume_and_a_twin_sweep_point_and_ends_as_if_alone(tmp_path, topic_corpus,
                                                                                         tiny_reference):
    """The tester's case: `--resume` of a run still training was accepted and both processes
    wrote the directory. Now both that and a sweep point of the same config are one line, exit 2,
    naming the run and the pid, and the first run's files are untouched and end as an
    uninterrupted run's."""
    out, gate = tmp_path / "o", tmp_path / "gate"
    proc = start_paused(gate, 2, *tiny_word2vec(topic_corpus, out, "--name", "r"))
    try:
        wait_for(lambda: (gate / "paused").exists() or proc.poll() is not None)
        run = out / "word2vec" / "r"
        assert listed_status(out) == "running"
        before = _checksums(run)

        resumed = d2l("run", "word2vec", "--resume", str(run))
        assert resumed.exit_code == 2, resumed.output
        lines = resumed.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: run ") and str(run) in lines[0], resumed.stderr
        assert f"is being trained by another process (pid {proc.pid})" in lines[0]

        twin = d2l("sweep", "word2vec", "--config", str(run / "config.yaml"), "--seeds", "1", "--jobs", "1",
                   "--name", "twin", "--quiet", "--json", "--out", str(out))
        assert twin.exit_code == 2, twin.output
        (row,) = json.loads(twin.stdout)["results"]
        assert row["status"] == "failed" and row["run_dir"] is None
        lines = twin.stderr.strip().splitlines()
        assert len(lines) == 1 and f"run '{run}' is being trained by another process (pid {proc.pid})" in lines[0]
        assert sorted(p.name for p in (out / "word2vec").iterdir()) == ["r"]  # no duplicate trained elsewhere
        assert _checksums(run) == before and listed_status(out) == "running"
    finally:
        (gate / "go").write_text("")
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert listed_status(out) == "completed"
    assert (run / "vectors.txt").read_bytes() == (tiny_reference() / "vectors.txt").read_bytes()
    assert (run / "metrics.csv").read_text().count("\n") == (tiny_reference() / "metrics.csv").read_text().count("\n")


@pytest.mark.slow
def test_a_run_whose_process_died_lists_as_interrupted_and_resumes_to_the_uninterrupted_run(tmp_path, topic_corpus,
                                                                                           tiny_reference):
    out, gate = tmp_path / "o", tmp_path / "gate"
    proc = start_paused(gate, 2, *tiny_word2vec(topic_corpus, out))
    wait_for(lambda: (gate / "paused").exists() or proc.poll() is not None)
    proc.kill()  # SIGKILL: the summary still says `running`, the kernel drops the lock
    proc.wait(timeout=60)
    run = only_run_dir(out / "word2vec")
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert listed_status(out) == "interrupted"
    shown = d2l("runs", "show", str(run))
    assert shown.exit_code == 0 and "interrupted (its process ended without saying so" in shown.stdout, shown.output
    assert d2l("run", "word2vec", "--resume", str(run)).exit_code == 0
    assert (run / "vectors.txt").read_bytes() == (tiny_reference() / "vectors.txt").read_bytes()


def test_the_writer_lock_refuses_a_second_holder_naming_the_first_and_is_free_after(tmp_path):
    warnings: list[str] = []
    assert writer.holder(tmp_path) is None  # no lock file: nobody
    with writer.hold(tmp_path, warnings.append):
        assert writer.holder(tmp_path) == writer.Holder(os.getpid(), writer.socket.gethostname())
        with pytest.raises(UserError, match=rf"run '{tmp_path}' is being trained by another process "
                                            rf"\(pid {os.getpid()}\): wait for it to end, or stop it "
                                            rf"\(kill -TERM {os.getpid()}: it saves a checkpoint\)"):
            with writer.hold(tmp_path, warnings.append):
                pass
    assert writer.holder(tmp_path) is None and warnings == []
    assert (tmp_path / writer.LOCK_NAME).read_text() == ""  # no stale pid once released


def test_a_probe_of_the_lock_never_makes_a_writer_fail(tmp_path):
    """`runs list` takes the lock shared for an instant: a writer starting then waits it out."""
    import fcntl

    probe = os.open(tmp_path / writer.LOCK_NAME, os.O_RDONLY | os.O_CREAT)
    fcntl.flock(probe, fcntl.LOCK_SH)
    threading.Timer(0.2, lambda: os.close(probe)).start()
    with writer.hold(tmp_path, lambda message: None):
        pass


def _no_locks(*args, **kwargs):
    raise OSError(errno.ENOLCK, "No locks available")


def test_on_a_filesystem_without_locks_a_run_goes_on_with_one_warning(tmp_path, monkeypatch):
    """NFS without lockd, Lustre without -o flock: flock fails with ENOLCK."""
    import fcntl

    monkeypatch.setattr(fcntl, "flock", _no_locks)
    result = d2l("run", "optim", "--problem", "quadratic", "--steps", "5", "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("does not support file locks") == 1
    assert listed_status(tmp_path) == "completed"


def test_a_sweep_point_on_a_filesystem_without_locks_runs_rather_than_waiting_for_ever(tmp_path, monkeypatch):
    """Before: every failed flock read as 'held by another sweep', so the point waited for ever."""
    import fcntl

    monkeypatch.setattr(fcntl, "flock", _no_locks)
    events: list = []
    asked = iter(range(10**6))
    with _point_lock(tmp_path, "optim", {"seed": 3}, lambda: next(asked) > 2, events.append) as held:
        assert held
    assert [e.message for e in events] == [writer.unsupported(tmp_path)]
