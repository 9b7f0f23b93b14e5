"""`d2l run word2vec` and `d2l embed` end to end, on a small generated corpus (seconds, not minutes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.word2vec.objectives import OBJECTIVES
from d2l_lab.runs.metrics import read_metrics

from .conftest import d2l, needs_extra, only_run_dir, run_on_corpus, write_topic_corpus
from .doc_pages import assert_quoted, table_rows

TINY = ["--epochs", "3", "--min-count", "2", "--subsample", "0", "--dim", "16", "--batch-size", "512", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_topic_corpus(tmp_path_factory.mktemp("corpus") / "topics.txt", 30, 1500, 12)


def run_word2vec(corpus, out, *extra):
    return run_on_corpus("word2vec", corpus, out, *TINY, *extra)


@pytest.mark.slow
def test_run_dir_has_vectors_vocab_metrics_and_evaluation(corpus, tmp_path):
    run = run_word2vec(corpus, tmp_path)
    assert {"config.yaml", "command.txt", "metrics.csv", "summary.json", "loss.png", "checkpoint.pt",
            "vectors.txt", "vocab.tsv"} <= {p.name for p in run.iterdir()}
    vectors = load_vectors(run / "vectors.txt")
    assert len(vectors) == 60 and vectors.dim == 16
    vocab = [line.split("\t") for line in (run / "vocab.tsv").read_text().splitlines()]
    assert [w for w, _ in vocab] == vectors.words and sum(int(c) for _, c in vocab) == 1500 * 12
    epochs = [r for r in read_metrics(run / "metrics.csv") if r["words_per_s"]]
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["data_checksum"].startswith("sha1:")
    evaluation = summary["notes"]["evaluation"]
    assert set(evaluation) == {"protocol", "wordsim353", "simlex999", "google_analogy"}
    assert evaluation["protocol"]["case_insensitive"] is True and evaluation["protocol"]["oov"] == "skip"
    neighbours = [w for w, _ in vectors.most_similar("cat0", k=10)]
    assert sum(w.startswith("cat") for w in neighbours) >= 9, neighbours


@pytest.mark.slow
def test_embed_similar_matches_cosines_of_the_saved_vectors(corpus, tmp_path):
    run = run_word2vec(corpus, tmp_path)
    result = d2l("embed", "similar", str(run), "cat3", "-k", "4", "--json")
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)["cat3"]
    vectors = load_vectors(run / "vectors.txt")
    unit = vectors.matrix / np.linalg.norm(vectors.matrix, axis=1, keepdims=True)
    for word, score in hits:
        expected = unit[vectors.index["cat3"]] @ unit[vectors.index[word]]
        assert score == pytest.approx(float(expected), abs=1e-5)
    gensim = needs_extra("gensim", "bench")
    keyed = gensim.models.KeyedVectors.load_word2vec_format(str(run / "vectors.txt"))
    assert [w for w, _ in keyed.most_similar("cat3", topn=4)] == [w for w, _ in hits]


@pytest.mark.slow
@pytest.mark.parametrize("loss", list(OBJECTIVES))
def test_same_seed_same_vectors_and_metrics(corpus, tmp_path, loss):
    first = run_word2vec(corpus, tmp_path / "a", "--loss", loss)
    second = d2l("run", "word2vec", "--config", str(first / "config.yaml"), "--quiet", "--out", str(tmp_path / "b"))
    assert second.exit_code == 0
    rerun = only_run_dir(tmp_path / "b" / "word2vec")
    assert (first / "vectors.txt").read_bytes() == (rerun / "vectors.txt").read_bytes()


KILL_IN_EPOCH_3 = """
import os, signal, sys
from d2l_lab.experiments.embedding_task import EmbeddingTask
train_step = EmbeddingTask.train_step
def train_step_or_die(task, step):
    if step == 2 * task.parts_per_epoch + min(2, task.parts_per_epoch):
        # Epoch 2's checkpoint is on disk and epoch 3 is under way (unless an epoch is one part):
        # die as a power cut would, mid-run, losing the parts trained since.
        os.kill(os.getpid(), signal.SIGKILL)
    return train_step(task, step)
EmbeddingTask.train_step = train_step_or_die
from d2l_lab.cli.main import app
app(sys.argv[1:])
"""


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(corpus, tmp_path):
    """SIGKILL at a fixed point (inside epoch 3, after epoch 2's checkpoint), then --resume."""
    full = run_word2vec(corpus, tmp_path / "full", "--epochs", "6")
    command = [sys.executable, "-c", KILL_IN_EPOCH_3, "run", "word2vec", "--corpus", str(corpus), *TINY,
               "--epochs", "6", "--out", str(tmp_path / "cut")]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    cut = only_run_dir(tmp_path / "cut" / "word2vec")
    assert not (cut / "vectors.txt").exists()
    result = d2l("run", "word2vec", "--resume", str(cut), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (cut / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()
    assert json.loads((cut / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_evaluations_within_epochs_leave_training_unchanged_and_resume_exactly(corpus, tmp_path):
    """`evals_per_epoch` only reads the vectors: the vectors are those of a run scored once an
    epoch, and a run interrupted between two in-epoch scores resumes to the uninterrupted metrics."""
    from d2l_lab.runs.verify import first_difference

    from .conftest import at_step

    quarters = ("--set", "word2vec.chunk_tokens=4500")  # 18,000 tokens: 4 chunks, 4 parts an epoch
    once = run_word2vec(corpus, tmp_path / "once", *quarters)
    twice = run_word2vec(corpus, tmp_path / "twice", *quarters, "--set", "evals_per_epoch=2")
    assert (twice / "vectors.txt").read_bytes() == (once / "vectors.txt").read_bytes()
    rows = read_metrics(twice / "metrics.csv")
    scores = [(float(r["progress"]), r["wordsim353_rho"]) for r in rows if r["wordsim353_rho"] and not r["loss"]]
    assert [p for p, _ in scores] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    epochs = [r["wordsim353_rho"] for r in rows if r["words_per_s"]]
    assert epochs == [rho for p, rho in scores if p.is_integer()]  # an epoch's row keeps its score
    assert epochs == [r["wordsim353_rho"] for r in read_metrics(once / "metrics.csv") if r["words_per_s"]]
    # Ctrl-C before step 7 (epoch 2, part 3): the run stops after it, between two scores.
    stop = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)"
    cut = subprocess.run(at_step(7, stop, "run", "word2vec", "--corpus", str(corpus), *TINY, *quarters, "--set",
                                 "evals_per_epoch=2", "--out", str(tmp_path / "cut")),
                         capture_output=True, text=True, timeout=300, check=False)
    run = only_run_dir(tmp_path / "cut" / "word2vec")
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted", cut.stderr
    resumed = d2l("run", "word2vec", "--resume", str(run), "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert first_difference(twice / "metrics.csv", run / "metrics.csv") is None
    assert (run / "vectors.txt").read_bytes() == (twice / "vectors.txt").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "missing.txt"], "does not exist"),
        (["--model", "glove"], "must be one of skipgram, cbow"),
        (["--window", "0"], "--window must be >= 1"),
        pytest.param(["--min-count", "1000000"], "lower --min-count", marks=pytest.mark.slow),  # reads PTB
    ],
)
def test_bad_word2vec_input_is_one_line_exit_2(tmp_path, args, message):
    result = d2l("run", "word2vec", *args, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_empty_corpus_is_exit_2(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = d2l("run", "word2vec", "--corpus", str(empty), "--out", str(tmp_path))
    assert result.exit_code == 2 and "empty" in result.stderr


@pytest.mark.slow
def test_embed_unknown_word_and_analogy(corpus, tmp_path):
    run = run_word2vec(corpus, tmp_path)
    result = d2l("embed", "similar", str(run), "zebra")
    assert result.exit_code == 2 and "'zebra' is not in the vocabulary" in result.stderr
    result = d2l("embed", "analogy", str(run), "cat1", "cat2", "dog1", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["answers"]) == 1
    result = d2l("embed", "eval", str(run), "--json")
    assert json.loads(result.stdout)["wordsim353"]["pairs_oov"] == 353


@pytest.mark.slow
def test_default_run_on_ptb_gives_the_rho_of_docs_results(tmp_path):
    """docs/results.md's figures (the model table) as a user reaches them: the default run on the
    bundled PTB (seed 0, CPU, bit-for-bit reproducible), then `d2l embed eval`: WordSim-353 rho 0.418
    over 237 pairs, SimLex-999 rho 0.141, analogy accuracy 0.030."""
    result = d2l("run", "word2vec", "--window", "5", "--device", "cpu", "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    run = only_run_dir(tmp_path / "word2vec")
    result = d2l("embed", "eval", str(run), "--json")
    assert result.exit_code == 0, result.stderr
    evaluation = json.loads(result.stdout)
    wordsim = evaluation["wordsim353"]
    assert round(wordsim["rho"], 3) == 0.418, wordsim
    assert round(evaluation["simlex999"]["rho"], 3) == 0.141
    assert round(evaluation["google_analogy"]["accuracy"], 3) == 0.030
    assert wordsim["pairs_oov"] == 353 - 237  # PTB's vocabulary covers 237 of the 353 pairs


def test_docs_results_and_the_readme_quote_the_figures_the_default_run_is_held_to():
    row = next(r for r in table_rows("results.md", "Word embeddings on PTB") if r[0] == "word2vec skip-gram (ours)")
    assert (row[1], row[3], row[5], row[6]) == ("15", "0.418", "0.141", "0.030"), row
    assert_quoted("results.md", "WordSim-353 rho over the 237 in-vocabulary pairs")
    assert_quoted("README.md", "the default 15 epochs reach WordSim-353 rho 0.418")
