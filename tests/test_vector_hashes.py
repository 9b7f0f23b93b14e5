"""The bytes of `vectors.txt` of short PTB runs: refactors of the engine must leave every model's
arithmetic as it was. Two-epoch hashes were recorded before the embedding engine was cut into parts
(issue 22) and held through issues 22-27; the one-epoch hashes below were recorded (2026-12-07)
from the code that still gave every two-epoch hash, to halve the suite's time.

A changed hash is a changed result. Where a change is meant (a faster step that rounds
differently), the new hash goes in with the quality evidence that justified it, in the same commit.

Every model runs at seed 0; the default model (skip-gram, negative sampling) also at seed 1, which
checks that the seed reaches every random stream. (Seed 1 of the other models was recorded too and
held through issue 22's refactor; it was dropped to keep the suite within CI's 10 minutes.)
"""

from __future__ import annotations

import hashlib

import pytest

from .conftest import d2l, only_run_dir

RUNS = {
    "skipgram-ns": ("word2vec", "--model", "skipgram", "--loss", "ns"),
    "skipgram-hs": ("word2vec", "--model", "skipgram", "--loss", "hs"),
    "cbow-ns": ("word2vec", "--model", "cbow", "--loss", "ns"),
    "cbow-hs": ("word2vec", "--model", "cbow", "--loss", "hs"),
    "fasttext": ("fasttext",),
    "glove": ("glove",),
}
SHA256 = {
    ("skipgram-ns", 0): "0a5214f6dc4ad608afb53685950811906377611891c667545274e82bed7409a9",
    ("skipgram-ns", 1): "f44af8dfc3658501d6e5e69aa8f5258b0a0ddb17d2594028c51ae5c8d1ee7022",
    ("skipgram-hs", 0): "4449c63aa6dfd633245147434d3ee9e2a8070f5208eb7a0e6673f70a0fbe0fb5",
    ("cbow-ns", 0): "682b9da63421c846fb1bd5c7b84cbf4308725c32b922add44df45e7ca497622f",
    ("cbow-hs", 0): "98f359372c646881854966906d4c4cc6d807681f5bb6549c3e77d2017441e235",
    ("fasttext", 0): "2164743e0db0aa4e727f91608ec2738eed94e031fa7ede29b9ad276a8b7b382d",
    ("glove", 0): "022477eb7789da70933e53f47f845a66e72e0c68ef2a7982f36d081218f8ab4a",
}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed"), list(SHA256))
def test_one_epoch_on_ptb_gives_the_recorded_vectors(name, seed, tmp_path):
    experiment, *flags = RUNS[name]
    result = d2l("run", experiment, *flags, "--epochs", "1", "--seed", str(seed), "--device", "cpu", "--quiet",
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    vectors = (only_run_dir(tmp_path / experiment) / "vectors.txt").read_bytes()
    assert hashlib.sha256(vectors).hexdigest() == SHA256[name, seed]
