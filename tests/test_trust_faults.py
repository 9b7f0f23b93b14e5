"""Fault classes nobody had listed (issue 23): a file size limit and memory running out in the
middle of a run, the run directory moved or deleted while it trains, its filesystem turning
read-only, the terminal closing under a run, the clock set back. Each ends with one line and a
run that `--resume` continues to the uninterrupted run's bytes, or changes nothing it should not."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import at_step, d2l, listed_status, only_run_dir, start_paused, tiny_word2vec, wait_for

D2L = [sys.executable, "-m", "d2l_lab"]
WIDE = ("--dim", "300")
"""A checkpoint of about 150 KB: torch.save writes it in pieces, so a refused write lands inside it."""


def _run_at_step_2(code: str, corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """A tiny word2vec run that runs `code` before its second step (after the first checkpoint)."""
    return subprocess.run(at_step(2, code, *tiny_word2vec(corpus, out, *extra)), capture_output=True, text=True,
                          timeout=300, check=False)


def _one_line(stderr: str, *parts: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and all(part in lines[0] for part in parts), lines[0]
    return lines[0]


def _resumes_to(run: Path, reference: Path) -> None:
    resumed = d2l("run", "word2vec", "--resume", str(run))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert (run / "vectors.txt").read_bytes() == (reference / "vectors.txt").read_bytes()
    assert not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_a_file_size_limit_reached_inside_a_checkpoint_is_one_line_and_resumes(tmp_path, topic_corpus,
                                                                               tiny_reference):
    """`ulimit -f` (RLIMIT_FSIZE) lowered mid-run. Before: torch.save turned the refused write
    into a RuntimeError, a traceback, exit 1, and the summary stayed `running`."""
    limit = "import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))"
    done = _run_at_step_2(limit, topic_corpus, tmp_path, *WIDE)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "checkpoint.pt': File too large", "marked failed", "ulimit -f", "--resume")
    run = only_run_dir(tmp_path / "word2vec")
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
    _resumes_to(run, tiny_reference(*WIDE))  # from the checkpoint of step 1, the limit gone


@pytest.mark.slow
def test_memory_running_out_mid_run_is_one_line_and_resumes(tmp_path, topic_corpus, tiny_reference):
    """`ulimit -v` (RLIMIT_AS) reached by a step's allocation, as a bigger step or another process
    would. Before: a traceback, exit 1 ("a bug in d2l-lab") and a summary saying `running`."""
    starve = ("import resource, torch\npages = int(open('/proc/self/statm').read().split()[0])\n"
              "resource.setrlimit(resource.RLIMIT_AS, (pages * resource.getpagesize() + 2**26, "
              "resource.RLIM_INFINITY))\ntorch.empty(10**9)")
    done = _run_at_step_2(starve, topic_corpus, tmp_path)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "out of memory (", "can't allocate memory", "marked failed", "free memory", "--resume")
    run = only_run_dir(tmp_path / "word2vec")
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
    _resumes_to(run, tiny_reference())


@pytest.mark.slow
@pytest.mark.parametrize("fate", ["moved", "deleted"])
def test_a_run_directory_gone_mid_run_stops_within_a_step_with_one_line(tmp_path, topic_corpus, tiny_reference,
                                                                       fate):
    """Before: the run trained on until its next checkpoint (an epoch, up to 10 minutes), then said
    the run was 'marked failed' and its files 'intact', in a directory that no longer existed."""
    out, gate = tmp_path / "o", tmp_path / "gate"
    proc = start_paused(gate, 2, *tiny_word2vec(topic_corpus, out, "--name", "r"))
    try:
        wait_for(lambda: (gate / "paused").exists() or proc.poll() is not None)
        run, moved = out / "word2vec" / "r", out / "word2vec" / "moved"
        run.rename(moved)
        if fate == "moved":  # the lock moved with it: the run there is still its process's
            refused = d2l("run", "word2vec", "--resume", str(moved))
            assert refused.exit_code == 2 and "is being trained by another process" in refused.stderr
        else:
            shutil.rmtree(moved)
    finally:
        (gate / "go").write_text("")
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    _one_line(stderr, f"run directory '{run}' is gone (deleted, or moved while the run trained)")
    assert not run.exists()  # nothing recreated where it was
    if fate == "moved":
        _resumes_to(moved, tiny_reference())


@pytest.mark.slow
def test_a_filesystem_turned_read_only_mid_run_is_one_line_listed_interrupted_and_resumes(tmp_path, topic_corpus,
                                                                                          tiny_reference):
    """Every write refused (EROFS, as a remount read-only or an expired NFS credential gives).
    Before: the line said the run was 'marked failed' though its summary could not be written,
    and `runs list` showed it `running` for ever."""
    read_only = ("import errno, tempfile\ndef refuse(*args, **kwargs):\n"
                 "    raise OSError(errno.EROFS, 'Read-only file system')\ntempfile.mkstemp = refuse")
    done = _run_at_step_2(read_only, topic_corpus, tmp_path)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "metrics.csv': Read-only file system", "the summary could not be marked failed",
              "make it writable", "--resume")
    run = only_run_dir(tmp_path / "word2vec")
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert listed_status(tmp_path) == "interrupted"  # its process is gone
    _resumes_to(run, tiny_reference())


@pytest.mark.slow
@pytest.mark.parametrize("shown", [(), ("--quiet",), ("--json",)], ids=["bar", "quiet", "json"])
def test_the_terminal_closing_under_a_run_stops_it_saved_not_failed(tmp_path, topic_corpus, tiny_reference,
                                                                    shown):
    """The terminal window closed (or the ssh session dropped): SIGHUP, and every later write to
    the terminal fails with EIO. Before: SIGHUP killed the run at once (exit 129, `running`); with
    it handled, the progress bar's failed write marked the run `failed` (exit 2)."""
    args = [a for a in tiny_word2vec(topic_corpus, tmp_path, "--set", "word2vec.chunk_tokens=2000", *shown)
            if a != "--quiet" or shown]
    pid, terminal = pty.fork()
    if pid == 0:  # the run, in a session whose controlling terminal is this pty
        os.execv(sys.executable, [*D2L, *args])
    try:
        while not list(tmp_path.glob("word2vec/*/summary.json")):
            if select.select([terminal], [], [], 0.02)[0]:
                os.read(terminal, 1 << 16)  # what a terminal shows
        time.sleep(0.2)
    finally:
        os.close(terminal)  # the terminal is gone
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    run = only_run_dir(tmp_path / "word2vec")
    status = json.loads((run / "summary.json").read_text())["status"]
    assert (code, status) in ((130, "interrupted"), (0, "completed")), (code, status)
    if status == "interrupted":
        _resumes_to(run, tiny_reference("--set", "word2vec.chunk_tokens=2000"))


def test_a_clock_set_back_shows_no_negative_age(tmp_path):
    """Run durations and checkpoint timing use monotonic clocks, so a clock set back changes none
    of them; a run's age is wall time since its start, which was negative. Before: '-3599s'."""
    assert d2l("run", "optim", "--problem", "quadratic", "--steps", "5", "--quiet", "--out",
               str(tmp_path)).exit_code == 0
    run = only_run_dir(tmp_path / "optim")
    summary = json.loads((run / "summary.json").read_text())
    summary["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() + 3600))
    (run / "summary.json").write_text(json.dumps(summary))
    listed = d2l("runs", "list", "--out", str(tmp_path), "--json")
    assert json.loads(listed.stdout)[0]["age_s"] == 0
    table = d2l("runs", "list", "--out", str(tmp_path))
    assert "-" not in table.stdout.splitlines()[-1].split()[-1], table.stdout
