"""A corpus that is one line (text8: 100 MB, no newline) is read in bounded blocks: counting and
encoding it cost what the same tokens in lines cost, and its vectors do not depend on the block.
benchmarks/one_line_corpus.py measures the same at 300 MB, with the OS's peak RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from d2l_lab.datasets import corpus as datasets
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.experiments.embedding_task import read_corpus

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def one_line_and_lines(tmp_path, tokens: int, words_per_line: int = 1000):
    """The same Zipf-distributed tokens (300 word types) as one line and in lines."""
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, 301)
    drawn = [f"w{i}" for i in rng.choice(300, size=tokens, p=p / p.sum())]
    one_line, lines = tmp_path / "one_line.txt", tmp_path / "lines.txt"
    one_line.write_text(" ".join(drawn))
    lines.write_text("\n".join(" ".join(drawn[i:i + words_per_line]) for i in range(0, tokens, words_per_line)))
    return one_line, lines


@pytest.mark.slow
def test_reading_one_line_peaks_within_1_1x_of_the_same_tokens_in_lines(tmp_path):
    """The benchmark at 3 MB read 64 KiB at a time, each reading a child process whose peak RSS
    the OS reports (tracemalloc would take seconds per pass)."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "one_line_corpus.py"), "--mb", "3", "--block",
                           str(1 << 16), "--work", str(tmp_path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    ratio = float(done.stdout.splitlines()[-1].split()[4])
    assert 0.9 <= ratio <= 1.1, done.stdout


def test_one_line_is_cut_at_the_same_places_whatever_the_block(tmp_path):
    one_line, _ = one_line_and_lines(tmp_path, 100_000)
    expected = list(datasets.corpus_lines(one_line))
    assert len(expected) > 5 and all(len(piece) <= datasets.MAX_LINE_CHARS for piece in expected)
    assert " ".join(expected).split() == one_line.read_text().split()
    for block_size in (64, 1000, 1 << 16):
        assert list(datasets.corpus_lines(one_line, block_size=block_size)) == expected


def test_one_line_trains_to_the_same_vectors_whatever_the_block(tmp_path):
    """word2vec, one epoch on a 150 KB one-line corpus (3 sentences) read 64 bytes, 1 KiB and 1 MiB at a time."""
    one_line, _ = one_line_and_lines(tmp_path, 40_000)
    cfg = Word2VecConfig(dim=16, window=3, min_count=2, epochs=1, batch_size=256, threads=1, chunk_tokens=20_000)
    vectors = []
    for block in (64, 1024, datasets.READ_BLOCK):
        corpus = read_corpus(str(one_line), 2, block_size=block, cache_dir=tmp_path / f"cache{block}")
        assert corpus.offsets.size - 1 == len(list(datasets.corpus_lines(one_line)))  # its cuts are sentences
        trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, 0, torch.device("cpu"))
        trainer.train_epoch(0)
        vectors.append(trainer.input_vectors())
    assert len(trainer.chunks) >= 2
    assert np.array_equal(vectors[0], vectors[1]) and np.array_equal(vectors[0], vectors[2])
    assert not np.array_equal(vectors[0], np.zeros_like(vectors[0]))


@pytest.mark.parametrize("text", ["a b" + " c" * 40_000, "\t".join(["word"] * 20_000), "x" * 150_000 + " y z"])
def test_long_lines_are_cut_as_before(text):
    """The cut rule of `_complete_pieces` is the one every cached corpus was encoded with: at the last
    space or tab within MAX_LINE_CHARS, else at MAX_LINE_CHARS characters."""
    pieces, rest = [], text
    while len(rest) > datasets.MAX_LINE_CHARS:  # the rule, written the plain way
        window = rest[:datasets.MAX_LINE_CHARS + 1]
        cut = max(window.rfind(" "), window.rfind("\t"))
        cut = cut if cut > 0 else datasets.MAX_LINE_CHARS
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    produced = datasets._complete_pieces(text)
    got = []
    try:
        while True:
            got.append(next(produced))
    except StopIteration as end:
        got.append(text[end.value:])
    assert got == pieces and len(pieces) >= 2
