"""word2vec and fastText with several worker processes (`embeddings.hogwild`): every batch trained
once, sensible vectors, one worker unchanged, resume, errors, and no process left behind."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.embeddings import hogwild
from d2l_lab.embeddings.fasttext.trainer import FastTextTrainer
from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.errors import UserError

from . import test_fasttext, test_word2vec
from .conftest import d2l, only_run_dir, write_topic_corpus
from .test_run_word2vec import KILL_IN_EPOCH_3, TINY
from .test_word2vec import SMALL, make_trainer, topic_corpus, topic_margin

CPU = torch.device("cpu")
_restore_torch_threads = test_word2vec._restore_torch_threads


def _forks(monkeypatch) -> list[int]:
    """The pids of the processes forked from now on (in this process)."""
    pids: list[int] = []
    fork = os.fork

    def recording_fork() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    return pids


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def test_every_batch_is_trained_once_and_its_loss_and_terms_returned(monkeypatch):
    pids = _forks(monkeypatch)
    hits = torch.zeros(103, dtype=torch.int64)  # train_batches shares it: the workers' hits count

    def step(b):
        hits[b] += 1
        return torch.tensor(float(b), dtype=torch.float64), b % 7

    losses, terms = hogwild.train_batches(step, 103, workers=3, tables=[hits])
    assert hits.tolist() == [1] * 103 and losses.tolist() == [float(b) for b in range(103)]
    assert terms.tolist() == [b % 7 for b in range(103)]
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)


def test_a_failing_worker_is_an_error_naming_its_cause(monkeypatch):
    parent = os.getpid()

    def step(b):
        if os.getpid() != parent:
            raise ValueError("bad batch")
        time.sleep(0.001)
        return torch.zeros((), dtype=torch.float64), 1

    with pytest.raises(RuntimeError, match="worker process failed: ValueError: bad batch"):
        hogwild.train_batches(step, 40, workers=2)


def test_a_worker_killed_holding_the_claim_lock_is_an_error_not_a_hang(monkeypatch):
    """The OOM killer may pick a worker while it holds the lock of the batch counter: the others
    must notice within about LOCK_PATIENCE_S instead of waiting for it for ever."""
    monkeypatch.setattr(hogwild, "LOCK_PATIENCE_S", 0.1)
    locks = []
    context = hogwild.multiprocessing.get_context("fork")

    class RecordingContext:
        def Lock(self):
            locks.append(context.Lock())
            return locks[-1]

        def __getattr__(self, name):
            return getattr(context, name)

    monkeypatch.setattr(hogwild.multiprocessing, "get_context", lambda kind: RecordingContext())
    parent = os.getpid()

    def step(b):
        if os.getpid() != parent and b >= 8:
            locks[0].acquire()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.01)
        return torch.zeros((), dtype=torch.float64), 1

    with pytest.raises(RuntimeError, match=r"died while training \(killed by signal 9"):
        hogwild.train_batches(step, 400, workers=2)


def test_an_interrupt_in_the_parent_kills_the_workers(monkeypatch):
    pids = _forks(monkeypatch)
    parent = os.getpid()

    def step(b):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(0.01)
        return torch.zeros((), dtype=torch.float64), 1

    with pytest.raises(KeyboardInterrupt):
        hogwild.train_batches(step, 10_000, workers=3)
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)


def test_one_worker_never_forks_and_is_the_serial_path(monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("workers=1 must not fork"))
    one = make_trainer(dataclasses.replace(SMALL, workers=1))
    one.train_epoch(0)
    serial = make_trainer()
    serial.train_epoch(0)
    assert np.array_equal(one.input_vectors(), serial.input_vectors())
    assert not one.input_table.is_shared()


@pytest.mark.parametrize(("model", "loss"), [("skipgram", "ns"), ("cbow", "ns"), ("skipgram", "hs"), ("cbow", "hs")])
def test_two_workers_learn_the_planted_topics_and_report_every_batch(model, loss):
    corpus, topics = topic_corpus()
    cfg = dataclasses.replace(SMALL, model=model, loss=loss, epochs=4, workers=2)
    trainer, serial = make_trainer(cfg, corpus=corpus), make_trainer(dataclasses.replace(cfg, workers=1), corpus=corpus)
    calls, serial_calls, losses = [], [], []
    for epoch in range(4):
        metrics = trainer.train_epoch(epoch, on_batch=lambda done, loss: calls.append(done))
        serial_metrics = serial.train_epoch(epoch, on_batch=lambda done, loss: serial_calls.append(done))
        losses.append(metrics["loss"])
        assert {k: metrics[k] for k in ("pairs", "tokens", "lr")} == {k: serial_metrics[k] for k in ("pairs", "tokens", "lr")}
    assert calls == serial_calls and losses[-1] < losses[0]
    assert abs(losses[-1] - metrics["loss"]) < 1e-12 and abs(losses[-1] - serial_metrics["loss"]) < 0.05
    assert topic_margin(trainer, topics) > 0.5


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("loss", ["ns", "hs"])
def test_a_mid_epoch_state_loads_with_weights_only(workers, loss):
    """What `--resume` reads (`torch.load(weights_only=True)`) must take the state saved between
    two chunks: plain ints and tensors, no numpy scalars."""
    corpus, _ = topic_corpus()
    trainer = make_trainer(dataclasses.replace(SMALL, loss=loss, workers=workers, chunk_tokens=2000), corpus=corpus)
    assert trainer.parts_per_epoch > 1
    trainer.train_part(0, 0)
    buffer = io.BytesIO()
    torch.save(trainer.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["parts_done"] == 1 and state["epoch_sums"]["examples"] > 0


def test_fasttext_trains_with_two_workers():
    corpus, topics = test_fasttext.prefix_corpus()
    trainer = test_fasttext.make_trainer(dataclasses.replace(test_fasttext.SMALL, workers=2), corpus=corpus)
    for epoch in range(3):
        trainer.train_epoch(epoch)
    assert trainer.table.is_shared() and trainer.input_table.data_ptr() == trainer.table.data_ptr()
    assert topic_margin(trainer, topics) > 0.3
    assert isinstance(trainer, FastTextTrainer)


@pytest.mark.parametrize("bad", [{"workers": 0}, {"workers": -1}, {"workers": 1.5}, {"workers": "auto"},
                                 {"workers": 2, "threads": 2}, {"workers": 2, "threads": None}])
def test_bad_worker_counts_are_refused(bad):
    with pytest.raises(UserError):
        from_dict(Word2VecConfig, bad)


def test_workers_are_for_the_cpu_only():
    with pytest.raises(UserError, match="CPU only"):
        Word2VecTrainer.from_sentences(topic_corpus()[0], dataclasses.replace(SMALL, workers=2), 0,
                                       torch.device("meta"))


def test_bad_workers_flag_is_one_line_exit_2(tmp_path):
    result = d2l("run", "word2vec", "--set", "word2vec.workers=0", "--out", str(tmp_path))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "workers" in result.stderr


# --- whole runs ------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_interrupted_two_worker_run_resumes_to_sensible_vectors(tmp_path):
    corpus = write_topic_corpus(tmp_path / "topics.txt", 30, 1500, 12)
    command = [sys.executable, "-c", KILL_IN_EPOCH_3, "run", "word2vec", "--corpus", str(corpus), *TINY,
               "--epochs", "6", "--workers", "2", "--out", str(tmp_path / "cut")]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    cut = only_run_dir(tmp_path / "cut" / "word2vec")
    result = d2l("run", "word2vec", "--resume", str(cut), "--quiet")
    assert result.exit_code == 0, result.stderr
    vectors = load_vectors(cut / "vectors.txt")
    topics = [[f"{name}{i}" for i in range(30)] for name in ("cat", "dog")]
    same = np.mean([vectors.similarity(a, b) for t in topics for a in t for b in t if a != b])
    across = np.mean([vectors.similarity(a, b) for a in topics[0] for b in topics[1]])
    assert same - across > 0.3


TRAIN_SLOWLY_AND_REPORT_WORKERS = """
import os, sys, time, dataclasses
import torch
sys.path.insert(0, sys.argv[1])
from tests.test_word2vec import SMALL, make_trainer
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
step = Word2VecTrainer.step
def slow_step(self, *args):
    time.sleep(0.05)
    return step(self, *args)
Word2VecTrainer.step = slow_step
fork = os.fork
def reporting_fork():
    pid = fork()
    if pid:
        print(pid, flush=True)
    return pid
os.fork = reporting_fork
trainer = make_trainer(dataclasses.replace(SMALL, workers=3, batch_size=16))
trainer.train_epoch(0)
"""


@pytest.mark.slow
def test_workers_die_with_a_killed_parent(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen([sys.executable, "-c", TRAIN_SLOWLY_AND_REPORT_WORKERS, root],
                              stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(parent.stdout.readline()) for _ in range(2)]
        assert not any(_gone(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in workers)


@pytest.mark.slow
def test_scaling_benchmark_prints_a_row_per_condition():
    """One repeat of one epoch on idle cores (a busy core would only slow the suite): a row per
    worker count with a positive speed and its ratio against one worker."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                          "word2vec_scaling.py")
    done = subprocess.run([sys.executable, script, "--repeats", "1", "--epochs", "1", "--busy", "0"], capture_output=True,
                          text=True, timeout=600, check=True)
    rows = [line.split() for line in done.stdout.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [(busy, workers) for busy, workers, *_ in rows] == [("0", "1"), ("0", "2")]
    assert all(float(speed.replace(",", "")) > 0 for _, _, speed, *_ in rows)
    assert rows[0][-2] == "1.00"
