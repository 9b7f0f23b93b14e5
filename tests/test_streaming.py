"""Streaming corpora and bounded epochs: a corpus is read a block at a time, encoded once to a
memory-mapped cache, and trained a chunk at a time; none of it may change the vectors."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import lzma
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from d2l_lab.datasets import corpus as datasets
from d2l_lab.embeddings.fasttext.config import FastTextConfig
from d2l_lab.embeddings.fasttext.trainer import FastTextTrainer
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.examples import chunk_bounds, chunk_offsets
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.errors import UserError
from d2l_lab.experiments.embedding_task import read_corpus

from .conftest import d2l, only_run_dir
from .test_run_word2vec import KILL_IN_EPOCH_3

CPU = torch.device("cpu")
CHUNK = 3000
"""Tokens per chunk in these tests: the generated corpus below is ~7 chunks."""
SMALL = Word2VecConfig(dim=16, window=3, min_count=2, subsample=1e-3, epochs=2, batch_size=256, lr=0.04,
                       threads=1, chunk_tokens=CHUNK)
COMPRESS = {".txt": bytes, ".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def corpus_text(sentences: int = 1500, seed: int = 0) -> str:
    """Sentences of 1-30 words (~23k tokens) over 300 words, some non-ASCII, Zipf-like frequencies."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(297)] + ["café", "naïve", "Straße"]
    frequencies = 1 / np.arange(1, len(words) + 1)
    lines = [" ".join(rng.choice(words, size=rng.integers(1, 31), p=frequencies / frequencies.sum()))
             for _ in range(sentences)]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_bytes(COMPRESS[path.suffix](text.encode("utf-8")))
    return path


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_lines_do_not_depend_on_the_block_size(tmp_path, monkeypatch, suffix):
    """Block edges fall inside lines and inside multi-byte characters; long lines are cut at the
    same places whatever the blocks."""
    monkeypatch.setattr(datasets, "MAX_LINE_CHARS", 40)
    text = ("\ufeff" + corpus_text(200) + " ".join(["long"] * 60) + "\n" + "x" * 100 + "\n"
            + " ".join(["tail"] * 30))  # a long last line without a newline
    path = write(tmp_path / f"c{suffix}", text)
    expected = list(datasets.corpus_lines(path, block_size=1 << 20))
    for block_size in (1, 7, 1000):
        assert list(datasets.corpus_lines(path, block_size=block_size)) == expected
    assert max(map(len, expected)) <= 40 and set(expected[-1].split()) == {"tail"}
    # Cuts fall at whitespace, so tokens survive, except a run of 100 x's with none to cut at.
    tokens = [t for line in expected for t in line.split()]
    reference = text.lstrip("\ufeff").split()
    x_run = reference.index("x" * 100)
    assert tokens == reference[:x_run] + ["x" * 40, "x" * 40, "x" * 20] + reference[x_run + 1:]


def test_a_directory_is_its_files_in_name_order(tmp_path):
    parts = [corpus_text(50, seed) for seed in range(3)]
    folder = tmp_path / "corpus"
    folder.mkdir()
    write(folder / "b.bz2", parts[1])
    write(folder / "a.txt.gz", parts[0])
    write(folder / "c.txt", parts[2])
    (folder / ".hidden").write_text("ignored words\n")
    whole = write(tmp_path / "whole.txt", "".join(parts))
    assert list(datasets.corpus_lines(folder)) == list(datasets.corpus_lines(whole))
    assert datasets.corpus_checksum(folder) != datasets.corpus_checksum(whole)


def test_progress_reaches_the_total_bytes(tmp_path):
    path = write(tmp_path / "c.gz", corpus_text())
    calls: list[tuple[int, int]] = []
    list(datasets.corpus_lines(path, progress=lambda done, total: calls.append((done, total))))
    assert calls[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_encoded_corpus_equals_the_in_memory_encoding(tmp_path):
    text = corpus_text()
    corpus = read_corpus(str(write(tmp_path / "c.xz", text)), 2, cache_dir=tmp_path / "cache")
    sentences = [line.split() for line in text.split("\n") if line.split()]
    vocab = Vocab(sentences, 2)
    ids, offsets = vocab.encode(sentences)
    assert corpus.vocab.words == vocab.words and corpus.vocab.total_tokens == vocab.total_tokens
    assert np.array_equal(corpus.ids, ids) and np.array_equal(corpus.offsets, offsets)
    assert isinstance(corpus.ids, np.memmap) and corpus.ids.dtype == np.int32
    again = read_corpus(str(tmp_path / "c.xz"), 2, cache_dir=tmp_path / "cache")  # from the cache
    assert again.vocab.words == vocab.words and np.array_equal(again.ids, ids)


def test_an_unwritable_cache_still_reads_the_corpus(tmp_path):
    (tmp_path / "a file").write_text("not a directory")
    text = corpus_text(100)
    corpus = read_corpus(str(write(tmp_path / "c.txt", text)), 2, cache_dir=tmp_path / "a file" / "cache")
    expected = read_corpus(str(tmp_path / "c.txt"), 2, cache_dir=tmp_path / "cache")
    assert corpus.vocab.words == expected.vocab.words
    assert np.array_equal(corpus.ids, expected.ids) and np.array_equal(corpus.offsets, expected.offsets)


# --- chunks ------------------------------------------------------------------------------------


def test_chunks_end_at_sentence_starts_and_split_only_long_sentences():
    offsets = np.array([0, 4, 9, 10, 30, 32])
    assert chunk_bounds(offsets, 32, 100) == [(0, 32)]
    assert chunk_bounds(offsets, 32, 10) == [(0, 10), (10, 20), (20, 30), (30, 32)]
    assert chunk_bounds(offsets, 32, 6) == [(0, 4), (4, 10), (10, 16), (16, 22), (22, 28), (28, 32)]
    assert chunk_offsets(offsets, 9, 30).tolist() == [0, 1, 21]
    assert chunk_offsets(offsets, 16, 22).tolist() == [0, 6]


def train(corpus, cfg=SMALL, trainer_class=Word2VecTrainer, epochs=2) -> Word2VecTrainer:
    trainer = trainer_class(corpus.ids, corpus.offsets, corpus.vocab, cfg, 0, CPU)
    for epoch in range(epochs):
        trainer.train_epoch(epoch)
    return trainer


@pytest.mark.parametrize("model", ["skipgram", "cbow", "fasttext"])
def test_chunked_training_does_not_depend_on_the_read_block_size(tmp_path, model):
    path = write(tmp_path / "c.gz", corpus_text())
    cfg = SMALL if model != "fasttext" else FastTextConfig(**{**dataclasses.asdict(SMALL), "model": "skipgram",
                                                              "buckets": 5000, "lr": 0.02})
    cfg = dataclasses.replace(cfg, model="cbow") if model == "cbow" else cfg
    trainer_class = FastTextTrainer if model == "fasttext" else Word2VecTrainer
    runs = [train(read_corpus(str(path), 2, block_size=block, cache_dir=tmp_path / f"cache{block}"), cfg, trainer_class)
            for block in (5, 1 << 20)]
    assert len(runs[0].chunks) >= 5
    assert np.array_equal(runs[0].input_vectors(), runs[1].input_vectors())
    assert torch.equal(runs[0].output_table, runs[1].output_table)


def test_the_learning_rate_decays_over_the_whole_run_across_chunks(tmp_path, monkeypatch):
    corpus = read_corpus(str(write(tmp_path / "c.txt", corpus_text())), 2, cache_dir=tmp_path / "cache")
    trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, SMALL, 0, CPU)
    progress: list[float] = []
    schedule = trainer.learning_rate
    monkeypatch.setattr(trainer, "learning_rate", lambda p: progress.append(p) or schedule(p))
    reported: list[float] = []
    for epoch in range(2):
        trainer.train_epoch(epoch, on_batch=lambda position, loss: reported.append(position))
    assert len(trainer.chunks) >= 5
    assert progress == sorted(progress) and progress[0] == 0 and 1.9 < progress[-1] < 2
    # Reports are placed by the position in the run at the end of their batch, the last at the epoch's end.
    assert reported == sorted(reported) and reported[-1] == 2.0 and reported.count(1.0) == 1
    assert trainer.learning_rate(progress[-1]) < SMALL.lr * 0.1


# --- the command line --------------------------------------------------------------------------

TINY = ["--epochs", "4", "--min-count", "2", "--dim", "16", "--batch-size", "256", "--device", "cpu", "--quiet",
        "--set", f"word2vec.chunk_tokens={CHUNK}"]


@pytest.mark.slow
def test_sigkill_then_resume_of_a_chunked_run_gives_the_same_vectors(tmp_path):
    corpus = write(tmp_path / "c.txt.gz", corpus_text())
    result = d2l("run", "word2vec", "--corpus", str(corpus), *TINY, "--out", str(tmp_path / "full"))
    assert result.exit_code == 0, result.stderr
    full = only_run_dir(tmp_path / "full" / "word2vec")
    command = [sys.executable, "-c", KILL_IN_EPOCH_3, "run", "word2vec", "--corpus", str(corpus), *TINY,
               "--out", str(tmp_path / "cut")]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    cut = only_run_dir(tmp_path / "cut" / "word2vec")
    result = d2l("run", "word2vec", "--resume", str(cut), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (cut / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty directory", "has no files"),
    ("not utf-8", "is not UTF-8 text"),
    ("corrupt gz", "is not valid gz data"),
    ("blank", "is empty"),
    ("no usable words", "lower --min-count"),
])
def test_bad_corpus_is_one_line_exit_2(tmp_path, case, message):
    path = tmp_path / "corpus.txt"
    if case == "empty directory":
        path = tmp_path / "empty"
        path.mkdir()
    elif case == "not utf-8":  # the bad byte comes after the first block
        path = tmp_path / "latin.gz"
        path.write_bytes(gzip.compress(b"ok words\n" * 200_000 + "caf\xe9\n".encode("latin-1")))
    elif case == "corrupt gz":
        path = tmp_path / "x.gz"
        path.write_bytes(b"plain, not gzip\n")
    elif case == "blank":
        path = write(tmp_path / "blank.bz2", "\n \n\t\n")
    elif case == "no usable words":
        path = write(tmp_path / "rare.txt", "every word once\n")
    result = d2l("run", "word2vec", "--corpus", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_read_errors_name_the_file_inside_a_directory(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write(folder / "a.txt", "fine words\n")
    (folder / "b.txt").write_bytes(b"bad \xff byte\n")
    with pytest.raises(UserError, match=r"b\.txt' is not UTF-8"):
        list(datasets.corpus_lines(folder))


# --- memory ------------------------------------------------------------------------------------

PEAK_RSS = """
import gzip, json, resource, sys
import numpy as np, torch
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.experiments.embedding_task import read_corpus
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
path, sentences = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
words = np.array([f"w{i}" for i in range(2000)])
p = 1 / np.arange(1, 2001); p /= p.sum()
with gzip.open(path, "wt", compresslevel=1) as f:
    for _ in range(sentences // 1000):  # written a block at a time, so writing costs no memory
        f.write("\\n".join(" ".join(row) for row in rng.choice(words, size=(1000, 20), p=p)) + "\\n")
corpus = read_corpus(path, 5)
cfg = Word2VecConfig(dim=32, epochs=1, threads=1, chunk_tokens=50_000)
trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, 0, torch.device("cpu"))
trainer.train_epoch(0)
print(json.dumps({"tokens": corpus.vocab.total_tokens, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    """200k and 2M tokens, 50k-token chunks: peak RSS (whole process, torch included) may differ
    by the memory map of the ids (8 MB) and noise, not by the 10x corpus."""
    peaks = {}
    for sentences in (10_000, 100_000):
        done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(tmp_path / f"c{sentences}.txt.gz"), str(sentences)],
                              capture_output=True, text=True, timeout=600, check=False,
                              env={**__import__("os").environ, "D2L_LAB_CACHE": str(tmp_path / "cache")})
        assert done.returncode == 0, done.stderr
        peaks[sentences] = json.loads(done.stdout)
    small, large = peaks[10_000], peaks[100_000]
    assert large["tokens"] == 10 * small["tokens"] == 2_000_000
    assert large["peak_kb"] < small["peak_kb"] * 1.15 + 30_000, peaks
