"""Progress within an epoch and Ctrl-C within about a second: an embedding run's steps are parts of
an epoch, a terminal shows a bar that moves with them, a log gets a line every few seconds,
--quiet silences both, and a run stopped between any two parts resumes to the same bytes."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from d2l_lab.cli import terminal
from d2l_lab.cli.terminal import Terminal, describe_progress
from d2l_lab.embeddings.fasttext.config import FastTextConfig
from d2l_lab.embeddings.fasttext.trainer import FastTextTrainer
from d2l_lab.embeddings.glove import trainer as glove
from d2l_lab.embeddings.glove.config import GloveConfig
from d2l_lab.embeddings.glove.trainer import GloveTrainer
from d2l_lab.embeddings.word2vec import trainer as word2vec
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.experiments.embedding_task import read_corpus
from d2l_lab.runs.events import Started, Stepped

from .conftest import only_run_dir
from .test_streaming import corpus_text

CPU = torch.device("cpu")

D2L = """
import os, signal, sys, time
import d2l_lab.cli.terminal as terminal
import d2l_lab.embeddings.glove.trainer as glove
import d2l_lab.embeddings.word2vec.trainer as word2vec
every_s, signal_at_batch, batch_sleep_s, *args = sys.argv[1:]
terminal.PROGRESS_EVERY_S = float(every_s)
word2vec.PART_TOKENS, glove.PART_ENTRIES = 2000, 4096  # several parts per epoch of a small corpus
trainer_class = glove.GloveTrainer if args[1] == "glove" else word2vec.Word2VecTrainer
step, batches = trainer_class.step, [0]
def step_then_signal(*a, **k):
    batches[0] += 1
    if batches[0] == int(signal_at_batch):  # Ctrl-C in the middle of a part, as a user's would land
        print(f"signalled at {time.monotonic()}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGINT)
    time.sleep(float(batch_sleep_s))
    return step(*a, **k)
trainer_class.step = step_then_signal
from d2l_lab.cli.main import main
sys.argv = ["d2l", *args]
main()
"""
"""`d2l` with progress lines every `every_s` seconds, short parts, optionally a SIGINT sent to
itself during the given batch (counted over the whole run), and optionally a sleep before each
batch (a machine slow enough for a bar to be caught inside an epoch, however fast this one is)."""

RUNS = {  # small runs of several parts per epoch (and several chunks for word2vec and fastText)
    "word2vec": ["--epochs", "3", "--min-count", "2", "--dim", "16", "--batch-size", "256",
                 "--set", "word2vec.chunk_tokens=6000"],
    "fasttext": ["--epochs", "2", "--min-count", "2", "--dim", "16", "--batch-size", "256",
                 "--set", "fasttext.chunk_tokens=6000", "--set", "fasttext.buckets=20000"],
    # One thread: GloVe's default of all cores makes each op wait for the slowest core, erratic on a
    # busy machine (a part of 8 small batches took 1.6 s under a load of 7 on 2 cores).
    "glove": ["--epochs", "3", "--min-count", "2", "--dim", "16", "--window", "3", "--batch-size", "512",
              "--set", "glove.threads=1"],
}
SIGNAL_AT_BATCH = {"word2vec": 35, "fasttext": 35, "glove": 60}
"""A batch inside a part of the second epoch (word2vec and fastText: 27 batches in 12 parts per
epoch; GloVe: 51 batches in 7 parts)."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "corpus.txt"
    path.write_text(corpus_text())
    return path


def run_args(experiment: str, corpus: Path, out: Path) -> list[str]:
    return ["run", experiment, "--corpus", str(corpus), *RUNS[experiment], "--device", "cpu", "--out", str(out)]


def d2l_process(args: list[str], cache: Path, every_s: float = 0.0, signal_at_batch: int = 0,
                batch_sleep_s: float = 0.0, **popen) -> subprocess.Popen:
    command = [sys.executable, "-c", D2L, str(every_s), str(signal_at_batch), str(batch_sleep_s), *args]
    env = {**os.environ, "D2L_LAB_CACHE": str(cache), "TERM": "xterm"}
    return subprocess.Popen(command, env=env, **popen)


def run_to_file(args: list[str], log: Path, **options) -> tuple[int, str, float]:
    """Run with stderr redirected to a file, as in a log; returns (exit code, stderr, when it ended)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stderr:
        process = d2l_process(args, log.parent.parent / "cache", stdout=subprocess.DEVNULL, stderr=stderr, **options)
        code = process.wait(timeout=300)
    return code, log.read_text(), time.monotonic()


LINE = re.compile(r"^word2vec: epoch (\d+)/3 (\d+)%, ([\d.]+[kM]) words/s, lr ([\d.e-]+), loss ([\d.]+), "
                  r"step (\d+)/(\d+), ETA \d+:\d\d:\d\d$", re.M)


@pytest.mark.slow
def test_a_log_gets_progress_lines_within_the_first_epoch_and_quiet_gets_none(corpus, tmp_path):
    code, log, _ = run_to_file(run_args("word2vec", corpus, tmp_path / "log"), tmp_path / "log" / "stderr.log")
    assert code == 0, log
    lines = LINE.findall(log)
    first_epoch = [line for line in lines if line[0] == "1" and 0 < int(line[1]) < 100]
    assert len(first_epoch) >= 2, log
    steps = [int(line[5]) for line in lines]
    assert steps == sorted(steps) and int(lines[0][6]) > 3 * 10  # more than 10 steps per epoch
    assert float(first_epoch[-1][3]) < 0.05  # the default lr 0.05, decaying within the epoch
    code, log, _ = run_to_file([*run_args("word2vec", corpus, tmp_path / "quiet"), "--quiet"],
                               tmp_path / "quiet" / "stderr.log")
    assert code == 0 and log == "", log


def read_pty(fd: int, process: subprocess.Popen) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True])
def test_a_terminal_shows_a_bar_that_moves_within_an_epoch(corpus, tmp_path, quiet):
    import fcntl
    import struct
    import termios

    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    # A line every 0 s if the bar were missing: the pty must get the bar, not lines. 81 batches of
    # at least 20 ms: rich's bar, redrawn ten times a second, is caught inside an epoch.
    args = [*run_args("word2vec", corpus, tmp_path / "out"), *(["--quiet"] if quiet else [])]
    process = d2l_process(args, tmp_path / "cache", batch_sleep_s=0.02, stdin=subprocess.DEVNULL, stdout=secondary,
                          stderr=secondary)
    os.close(secondary)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", read_pty(main, process))  # without colours and cursor moves
    os.close(main)
    assert process.returncode == 0, shown
    if quiet:
        assert "epoch" not in shown and "word2vec run" not in shown, shown
        return
    frames = re.findall(r"word2vec .*? (\d+)/(\d+) epoch (\d+)/3 (\d+)%, [\d.]+[kM]? words/s, lr [\d.e-]+ "
                        r"loss [\d.]+", shown)
    assert "word2vec: epoch" not in shown  # a bar, not log lines
    within = {(int(epoch), int(percent)) for _, _, epoch, percent in frames if 0 < int(percent) < 100}
    assert within, shown[-2000:]  # some frame caught the bar inside an epoch
    steps = [int(done) for done, _, _, _ in frames]
    assert steps == sorted(steps) and len(set(steps)) > 2


def metrics_without_speed(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "words_per_s"} for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["word2vec", "fasttext", "glove"])
def test_ctrl_c_mid_epoch_stops_within_a_second_and_resumes_to_the_same_bytes(corpus, tmp_path, experiment):
    code, log, _ = run_to_file(run_args(experiment, corpus, tmp_path / "full"), tmp_path / "full" / "stderr.log")
    assert code == 0, log
    full = only_run_dir(tmp_path / "full" / experiment)

    process = d2l_process(run_args(experiment, corpus, tmp_path / "cut"), tmp_path / "cache",
                          signal_at_batch=SIGNAL_AT_BATCH[experiment], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    lines = [(time.monotonic(), line) for line in process.stderr]  # stamped as they come
    code, ended = process.wait(timeout=60), time.monotonic()
    log = "".join(line for _, line in lines)
    assert code == 130, log
    signalled = float(re.search(r"signalled at ([\d.]+)", log).group(1))  # the same clock, CLOCK_MONOTONIC
    said = next(when for when, line in lines if line.startswith("stopping after the current step..."))
    saved = next(when for when, line in lines if "interrupted: state saved; continue with --resume" in line)
    # Said at once; the part in progress finished and the checkpoint saved well within a second; the
    # process gone soon after (most of that is torch's own exit: ~1 s on a busy 2-core machine, 2.5 s
    # seen under a load of 6).
    assert said - signalled < 0.5 and saved - signalled < 1.0 and ended - signalled < 4.0, (signalled, log)
    cut = only_run_dir(tmp_path / "cut" / experiment)
    summary = json.loads((cut / "summary.json").read_text())
    total, done = summary["total_steps"], summary["steps_done"]
    parts = total // int(RUNS[experiment][1])
    assert summary["status"] == "interrupted" and parts > 2 and 0 < done % parts, summary  # inside an epoch
    assert summary["final"]["epochs"] == round(done / parts, 4)
    assert not (cut / "vectors.txt").exists()

    code, log, _ = run_to_file(["run", experiment, "--resume", str(cut)], tmp_path / "resume" / "stderr.log")
    assert code == 0, log
    assert (cut / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()
    assert metrics_without_speed(cut) == metrics_without_speed(full)  # the epochs' losses and rho too
    assert json.loads((cut / "summary.json").read_text())["steps_done"] == total


@pytest.mark.slow
def test_ctrl_c_with_two_workers_stops_after_the_chunk_and_resumes(corpus, tmp_path):
    """Workers train a chunk at once, so a chunk is one part: Ctrl-C stops at the chunk's end."""
    args = [*run_args("word2vec", corpus, tmp_path / "cut"), "--set", "word2vec.workers=2"]
    code, log, _ = run_to_file(args, tmp_path / "cut" / "stderr.log", signal_at_batch=10)
    assert code == 130 and "stopping after the current step..." in log, log
    cut = only_run_dir(tmp_path / "cut" / "word2vec")
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["total_steps"] == 3 * 4 and 0 < summary["steps_done"] < 12  # 4 chunks of 6000 tokens
    code, log, _ = run_to_file(["run", "word2vec", "--resume", str(cut)], tmp_path / "resume" / "stderr.log")
    assert code == 0, log
    assert json.loads((cut / "summary.json").read_text())["status"] == "completed"


def test_a_sweep_point_prints_no_progress(corpus, tmp_path, monkeypatch, capfd):
    """A sweep worker subscribes a collector of warnings only, so its points' progress never lands
    in the sweep's output (the sweep shows its own)."""
    from d2l_lab.experiments.registry import build
    from d2l_lab.runs.worker import run_point

    monkeypatch.setattr(terminal, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    config = {"corpus": str(corpus), "device": "cpu",
              "word2vec": {"epochs": 1, "min_count": 2, "dim": 8, "chunk_tokens": 6000}}
    request = {"experiment": "word2vec", "config": config, "out": str(tmp_path), "command": ["d2l", "sweep"],
               "exclude": []}
    result = run_point(request, build, lambda: False)
    assert result["exit"] == 0 and result["summary"]["total_steps"] == 4, result  # 4 chunks, a part each
    assert capfd.readouterr() == ("", "")


# --- the parts themselves, in process ------------------------------------------------------------


SMALL = Word2VecConfig(dim=16, window=3, min_count=2, subsample=1e-3, epochs=2, batch_size=256, lr=0.04,
                       threads=1, chunk_tokens=6000)


@pytest.mark.parametrize("model", ["skipgram", "cbow", "fasttext", "glove"])
def test_stopping_after_any_part_and_resuming_from_the_state_repeats_the_run(tmp_path, monkeypatch, model):
    monkeypatch.setattr(word2vec, "PART_TOKENS", 2500)
    monkeypatch.setattr(glove, "PART_ENTRIES", 2048)
    path = tmp_path / "c.txt"
    path.write_text(corpus_text(600))
    corpus = read_corpus(str(path), 2, cache_dir=tmp_path / "cache")

    def make():
        if model == "glove":
            cfg = GloveConfig(dim=8, window=3, min_count=2, epochs=2, batch_size=512, threads=1)
            return GloveTrainer(corpus.cooccurrence_entries(cfg.window), corpus.vocab.words, cfg, 0, CPU)
        if model == "fasttext":
            cfg = FastTextConfig(**{**dataclasses.asdict(SMALL), "model": "skipgram", "buckets": 5000, "lr": 0.02})
            return FastTextTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, 0, CPU)
        cfg = dataclasses.replace(SMALL, model=model)
        return Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, 0, CPU)

    straight = make()
    parts = straight.parts_per_epoch
    assert parts >= 3
    expected = [straight.train_part(epoch, part) for epoch in range(2) for part in range(parts)]
    for stop in (1, parts - 1, parts + 1):  # inside the first epoch, at its last part, inside the second
        first = make()
        for step in range(stop):
            first.train_part(*divmod(step, parts))
        torch.save(first.state_dict(), tmp_path / "state.pt")
        resumed = make()
        resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
        for step in range(stop, 2 * parts):
            metrics = resumed.train_part(*divmod(step, parts))
            assert {k: v for k, v in metrics.items() if k != "seconds"} == \
                   {k: v for k, v in expected[step].items() if k != "seconds"}
        assert np.array_equal(resumed.word_vectors().matrix, straight.word_vectors().matrix)
    with pytest.raises(ValueError, match="in order"):
        make().train_part(0, 1)


def test_a_mid_epoch_state_refuses_a_trainer_cut_into_other_parts(tmp_path, monkeypatch):
    path = tmp_path / "c.txt"
    path.write_text(corpus_text(600))
    corpus = read_corpus(str(path), 2, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(word2vec, "PART_TOKENS", 2500)
    trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, SMALL, 0, CPU)
    trainer.train_part(0, 0)
    state = trainer.state_dict()
    monkeypatch.setattr(word2vec, "PART_TOKENS", 1000)
    with pytest.raises(ValueError, match="parts per epoch"):
        Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, SMALL, 0, CPU).load_state_dict(state)


# --- what the terminal makes of the events --------------------------------------------------------


def test_progress_reads_as_epoch_share_speed_and_lr():
    assert describe_progress({"epoch": 1.45, "epochs": 15, "words_per_s": 612_345.0, "lr": 0.04821}) == \
        "epoch 2/15 45%, 612k words/s, lr 0.0482"
    assert describe_progress({"epoch": 2.0, "epochs": 15, "words_per_s": 1_234_567.0}) == \
        "epoch 2/15 100%, 1.23M words/s"
    assert describe_progress({"epoch": 0.0}) == "epoch 1 0%"
    assert describe_progress({}) == ""


def test_lines_come_every_few_seconds_with_an_eta(monkeypatch, capsys):
    now = [100.0]
    monkeypatch.setattr(terminal.time, "monotonic", lambda: now[0])
    shown = Terminal(quiet=False, json=False)
    shown(Started("word2vec", Path("run"), "cpu", total_steps=100, completed_steps=20))
    for step in range(21, 41):  # one step a second, from a resumed run's step 20
        now[0] += 1.0
        shown(Stepped(step, 100, 2.5, {"epoch": step / 10, "epochs": 10, "words_per_s": 5e5, "lr": 0.01}))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"word2vec: epoch {e}/10 {p}%, 500k words/s, lr 0.01, loss 2.5, step {s}/100, ETA {eta}"
                     for e, p, s, eta in [(3, 50, 25, "0:01:15"), (3, 100, 30, "0:01:10"), (4, 50, 35, "0:01:05"),
                                          (4, 100, 40, "0:01:00")]]
    for quiet, as_json in ((True, False), (False, True)):
        silent = Terminal(quiet=quiet, json=as_json)
        silent(Started("word2vec", Path("run"), "cpu", total_steps=100, completed_steps=0))
        now[0] += 60.0
        silent(Stepped(1, 100, 2.5, {"epoch": 0.1}))
    assert capsys.readouterr().err == ""


def test_ctrl_c_is_answered_at_once_before_and_during_training(capfd):
    shown = Terminal(quiet=True, json=False)  # even --quiet says what Ctrl-C does
    shown.stopping()
    assert capfd.readouterr().err == f"{terminal.STOPPING_BEFORE}\n"  # the data is still being read
    shown(Started("glove", Path("run"), "cpu", total_steps=100, completed_steps=0))
    shown.stopping()
    assert capfd.readouterr().err == "stopping after the current step...\n"
    shown.still_stopping()  # a second signal is noted, never acted on (issue 23)
    assert capfd.readouterr().err.startswith("still stopping after the current step (more stop signals change nothing")
