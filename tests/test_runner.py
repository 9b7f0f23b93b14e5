"""The run loop's contract, in-process: the result it returns, the events it publishes, and one
stop mechanism (`should_stop`) that stops at a fixed step and resumes to the uninterrupted run."""

from __future__ import annotations

import json

from d2l_lab import exit_codes
from d2l_lab.config.loading import compose
from d2l_lab.experiments.registry import experiment
from d2l_lab.runs.checkpoint import load_checkpoint
from d2l_lab.runs.events import Ended, Logged, RunResult, Started, Stepped, Warned
from d2l_lab.runs.metrics import read_metrics
from d2l_lab.runs.runner import RunOptions, execute, resume

SPEC = experiment("optim")
STEPS = 40


def _config(*sets: str):
    return compose(SPEC.config_class, "optim", sets=["problem.name=quadratic", f"train.steps={STEPS}", *sets])


def _stop_after(step: int):
    """A `should_stop` that answers yes once `step` steps are done (it is asked before each step)."""
    asked = iter(range(10**9))
    return lambda: next(asked) >= step


def test_execute_returns_its_result_and_publishes_the_run_as_events(tmp_path):
    events: list = []
    result = execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path), subscribers=[events.append])
    assert isinstance(result, RunResult) and result.exit_code == exit_codes.OK
    assert result.summary == json.loads((result.run_dir / "summary.json").read_text())
    assert result.summary["status"] == "completed"
    started = [e for e in events if isinstance(e, Started)]
    assert len(started) == 1 and (started[0].total_steps, started[0].completed_steps) == (STEPS, 0)
    assert [e.step for e in events if isinstance(e, Stepped)] == list(range(1, STEPS + 1))
    logged = [{k: str(v) for k, v in e.row.items()} for e in events if isinstance(e, Logged)]
    assert logged == [{k: v for k, v in row.items() if v != ""} for row in read_metrics(result.run_dir / "metrics.csv")]
    assert events[-1] == Ended(result)


def test_should_stop_stops_at_a_step_boundary_and_resume_matches_the_uninterrupted_run(tmp_path):
    whole = execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path / "whole"))
    events: list = []
    stopped = execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path / "stopped"),
                      should_stop=_stop_after(17), subscribers=[events.append])
    assert stopped.exit_code == exit_codes.INTERRUPTED and stopped.summary["status"] == "interrupted"
    state = load_checkpoint(stopped.run_dir / "checkpoint.pt")
    assert state["step"] == 17 and state["metric_rows"] == 18  # step 0 and steps 1..17
    assert any(isinstance(e, Warned) and "--resume" in e.message for e in events)
    resumed = resume("optim", SPEC.config_class, stopped.run_dir, SPEC.build_task())
    assert resumed.exit_code == exit_codes.OK and resumed.run_dir == stopped.run_dir
    assert resumed.summary["final"] == whole.summary["final"]
    assert (stopped.run_dir / "metrics.csv").read_bytes() == (whole.run_dir / "metrics.csv").read_bytes()


def test_a_diverged_run_exits_3_and_says_where(tmp_path):
    events: list = []
    result = execute("optim", _config("optimizer.lr=1.5"), SPEC.build_task(), RunOptions(out_root=tmp_path),
                     subscribers=[events.append])
    assert result.exit_code == exit_codes.DIVERGED and result.summary["status"] == "diverged"
    assert 1 <= result.summary["diverged_at_step"] <= STEPS
    assert any(isinstance(e, Warned) and "loss diverged" in e.message for e in events)


def test_a_dry_run_trains_nothing_and_has_no_run_directory(tmp_path):
    result = execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path, dry_run=True))
    assert result == RunResult(exit_codes.OK, None, None)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_corpus_is_published_as_data_read_events_one_pass_after_another(tmp_path, monkeypatch):
    from d2l_lab.runs.events import DataRead

    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 60_000)  # > 2 read blocks of 1 MiB
    spec = experiment("ppmi-svd")
    config = compose(spec.config_class, "ppmi-svd", sets=[f"corpus={corpus}", "ppmi_svd.dim=2"])
    events: list = []
    execute("ppmi-svd", config, spec.build_task(), RunOptions(out_root=tmp_path, dry_run=True),
            subscribers=[events.append])
    reads = [(e.done, e.total) for e in events if isinstance(e, DataRead)]
    size = corpus.stat().st_size
    assert all(total == size and 0 <= done <= size for done, total in reads)
    # Two passes (count the words, then encode them), each climbing to the whole file.
    restarts = [i for i in range(1, len(reads)) if reads[i][0] < reads[i - 1][0]]
    assert len(restarts) == 1
    passes = [reads[:restarts[0]], reads[restarts[0]:]]
    assert all(p[-1] == (size, size) and [d for d, _ in p] == sorted(d for d, _ in p) for p in passes)


def test_the_terminal_notes_reading_progress_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    from d2l_lab.cli import terminal
    from d2l_lab.runs.events import DataRead

    monkeypatch.setattr(terminal, "READING_NOTE_EVERY_S", 0.0)
    shown = terminal.Terminal(quiet=False, json=False)
    for event in (DataRead(0, 2_000_000), DataRead(1_000_000, 2_000_000), DataRead(0, 2_000_000)):
        shown(event)
    assert capsys.readouterr().err.splitlines() == [
        "reading corpus (pass 1): 0% of 2.0 MB", "reading corpus (pass 1): 50% of 2.0 MB",
        "reading corpus (pass 2): 0% of 2.0 MB"]
    quiet = terminal.Terminal(quiet=True, json=False)
    quiet(DataRead(1, 2))
    assert capsys.readouterr().err == ""


def test_a_failed_write_before_training_is_one_user_error_and_leaves_no_run_directory(tmp_path, monkeypatch):
    import errno

    import pytest

    from d2l_lab.errors import UserError
    from d2l_lab.runs import runner

    def disk_full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "atomic_write_text", disk_full)
    with pytest.raises(UserError, match=r"^cannot write the new run directory '.*': No space left on device; free"):
        execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path))
    assert list((tmp_path / "optim").iterdir()) == []


def test_checkpoints_come_every_checkpoint_every_steps_and_after_a_long_gap(tmp_path, monkeypatch):
    """A long epoch (a big corpus) still gets a checkpoint every CHECKPOINT_EVERY_S seconds."""
    import torch

    from d2l_lab.runs import runner

    saved: list[int] = []
    save = runner.save_checkpoint
    monkeypatch.setattr(runner, "save_checkpoint", lambda path, state: saved.append(state["step"]) or save(path, state))
    every = SPEC.build_task()(_config(), torch.device("cpu"), None).checkpoint_every
    assert 1 < every < STEPS
    execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path / "a"))
    assert saved == [step for step in range(1, STEPS + 1) if step % every == 0 or step == STEPS]
    saved.clear()
    monkeypatch.setattr(runner, "CHECKPOINT_EVERY_S", 0.0)
    execute("optim", _config(), SPEC.build_task(), RunOptions(out_root=tmp_path / "b"))
    assert saved == list(range(1, STEPS + 1))
