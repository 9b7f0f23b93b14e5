"""Every trainer and the optimizer runs on a GPU: a whole small run on `--device cuda` that
finishes, writes finite vectors (or a finite loss) and reads its own results back. Skipped
without CUDA; `pytest -m cuda` runs them on a machine with a GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from d2l_lab.embeddings.vector_formats import load_vectors

from .conftest import d2l, only_run_dir, write_topic_corpus

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SMALL_WORD2VEC = ("--subsample", "0", "--dim", "16", "--batch-size", "512", "--epochs", "3")
"""A corpus of 40 words learns in a few epochs of small batches with every token kept."""
EMBEDDING_RUNS = {
    "skipgram-ns": ("word2vec", "--loss", "ns", *SMALL_WORD2VEC),
    "skipgram-hs": ("word2vec", "--loss", "hs", *SMALL_WORD2VEC),
    "skipgram-softmax": ("word2vec", "--loss", "softmax", *SMALL_WORD2VEC),
    "cbow-ns": ("word2vec", "--model", "cbow", "--loss", "ns", *SMALL_WORD2VEC),
    "cbow-hs": ("word2vec", "--model", "cbow", "--loss", "hs", *SMALL_WORD2VEC),
    "cbow-softmax": ("word2vec", "--model", "cbow", "--loss", "softmax", *SMALL_WORD2VEC),
    "fasttext": ("fasttext", "--epochs", "2"),
    "glove": ("glove", "--epochs", "2"),
    "ppmi-svd": ("ppmi-svd", "--dim", "8"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_topic_corpus(tmp_path_factory.mktemp("corpus") / "topics.txt", 20, 400, 10)


@pytest.mark.parametrize("name", list(EMBEDDING_RUNS))
def test_an_embedding_run_on_cuda_learns_and_resumes(name, corpus, tmp_path):
    experiment, *flags = EMBEDDING_RUNS[name]
    result = d2l("run", experiment, *flags, "--corpus", str(corpus), "--min-count", "2", "--device", "cuda",
                 "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    run = only_run_dir(tmp_path / experiment)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["device"].startswith("cuda"), summary
    vectors = load_vectors(run / "vectors.txt")
    assert np.isfinite(vectors.matrix).all()
    same_topic = [w for w, _ in vectors.most_similar("cat0", k=5)]
    assert sum(w.startswith("cat") for w in same_topic) >= 4, same_topic
    again = d2l("run", experiment, "--resume", str(run), "--quiet")  # a finished run is left as it is
    assert again.exit_code == 0, again.stderr


@pytest.mark.parametrize("algo", ["sgd", "momentum", "adam", "adamw", "lion"])
@pytest.mark.parametrize("problem", ["quadratic", "airfoil"])
def test_an_optimizer_run_on_cuda_reaches_a_finite_loss(algo, problem, tmp_path):
    result = d2l("run", "optim", "--algo", algo, "--problem", problem, "--device", "cuda", "--quiet",
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    summary = json.loads((only_run_dir(tmp_path / "optim") / "summary.json").read_text())
    assert summary["status"] == "completed" and np.isfinite(summary["final"]["loss"]), summary
