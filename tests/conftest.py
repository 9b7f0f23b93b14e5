"""Shared helpers: invoke the CLI in-process, as a user would from a shell."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from d2l_lab.cli.common import STOP_SIGNALS, disown_signals
from d2l_lab.cli.main import app


@pytest.fixture(autouse=True)
def _stop_signals_given_back():
    """A test that calls `main` in-process takes the stop signals as a `d2l` process does
    (`cli.common.own_signals`, then ignores them); pytest gets its own back after each test."""
    saved = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    yield
    disown_signals(saved)


def d2l(*args: str) -> Result:
    """Run `d2l ARGS...` in-process; `command.txt` records what a shell would have typed."""
    saved = sys.argv
    sys.argv = ["d2l", *args]
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        sys.argv = saved


def only_run_dir(parent: Path) -> Path:
    runs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def listed_status(out: Path) -> str:
    """The status `d2l runs list` gives the one run under `out`."""
    listed = d2l("runs", "list", "--out", str(out), "--json")
    assert listed.exit_code == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    return entry["status"]


def run_on_corpus(experiment: str, corpus: Path, out: Path, *args: str) -> Path:
    """`d2l run EXPERIMENT --corpus CORPUS ARGS --out OUT` must succeed; returns its run dir."""
    result = d2l("run", experiment, "--corpus", str(corpus), *args, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return only_run_dir(out / experiment)


def write_topic_corpus(path: Path, words_per_topic: int, sentences: int, length: int) -> Path:
    """Two topics whose words co-occur only within their topic: vectors must separate them."""
    import numpy as np

    rng = np.random.default_rng(0)
    topics = [[f"cat{i}" for i in range(words_per_topic)], [f"dog{i}" for i in range(words_per_topic)]]
    path.write_text("\n".join(" ".join(rng.choice(topics[rng.integers(2)], size=length))
                              for _ in range(sentences)) + "\n")
    return path


AT_STEP = """
import pathlib, sys, time
from d2l_lab.experiments.embedding_task import EmbeddingTask
at, code = int(sys.argv.pop(1)), sys.argv.pop(1)
train_step = EmbeddingTask.train_step
def step_with(task, step):
    if step == at:
        exec(code, globals())
    return train_step(task, step)
EmbeddingTask.train_step = step_with
from d2l_lab.cli.main import main
main()
"""


def at_step(step: int, code: str, *args: str) -> list[str]:
    """The command line of `d2l ARGS` (an embedding run) that runs the Python `code` just before
    training step `step`, in the run's own process."""
    return [sys.executable, "-c", AT_STEP, str(step), code, *args]


def start_paused(gate: Path, step: int, *args: str, **popen: object) -> subprocess.Popen:
    """`d2l ARGS` (an embedding run) in a process of its own that waits before training step `step`
    until `gate/go` exists; `gate/paused` appears once it waits (see `wait_for`)."""
    gate.mkdir(parents=True, exist_ok=True)
    wait = (f"gate = pathlib.Path({str(gate)!r})\n(gate / 'paused').write_text('')\n"
            "while not (gate / 'go').exists():\n    time.sleep(0.02)")
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(at_step(step, wait, *args), **popen)


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


WORD2VEC_TINY = ("--epochs", "3", "--min-count", "2", "--subsample", "0", "--dim", "16", "--batch-size", "512",
                 "--device", "cpu", "--quiet")
"""A word2vec run of a second on `topic_corpus`: three steps (one part per epoch), a checkpoint after each."""


def tiny_word2vec(corpus: Path, out: Path, *extra: str) -> list[str]:
    """The `d2l` arguments of a WORD2VEC_TINY run on `corpus` with `extra` flags into `out`."""
    return ["run", "word2vec", "--corpus", str(corpus), *WORD2VEC_TINY, *extra, "--out", str(out)]


@pytest.fixture(scope="module")
def topic_corpus(tmp_path_factory):
    return write_topic_corpus(tmp_path_factory.mktemp("corpus") / "topics.txt", 30, 1500, 12)


@pytest.fixture(scope="module")
def tiny_reference(topic_corpus, tmp_path_factory):
    """`tiny_reference(*extra)`: the uninterrupted word2vec run on `topic_corpus` with WORD2VEC_TINY
    and `extra` flags, made once per module and flags; interrupted runs must end equal to it."""
    made: dict[tuple[str, ...], Path] = {}

    def reference(*extra: str) -> Path:
        if extra not in made:
            made[extra] = run_on_corpus("word2vec", topic_corpus, tmp_path_factory.mktemp("reference"),
                                        *WORD2VEC_TINY, *extra)
        return made[extra]

    return reference


def needs_extra(module: str, extra: str):
    """`module` imported, or the test skipped naming the extra that installs it (the quick tests
    pass after `pip install ".[dev]"` alone)."""
    return pytest.importorskip(module, reason=f"the {extra} extra is not installed: pip install 'd2l-lab[{extra}]'")
