"""The one embedding task every model plugs into: the run-loop contract, and the rows and files it
makes from any trainer offering the four `EmbeddingTrainer` methods."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.experiments.embedding_task import Corpus, EmbeddingTask

EMBEDDING_MODULES = ("word2vec", "fasttext", "glove", "ppmi_svd")


class CountingTrainer:
    """A stand-in model: two batches per epoch, vectors that move by one each epoch."""

    def __init__(self, words: list[str]) -> None:
        self.words, self.epochs_done = words, 0

    def train_epoch(self, epoch, on_batch=None):
        for done, loss in ((1, 4.0), (2, 2.0)):
            on_batch(done, loss / (epoch + 1))
        self.epochs_done += 1
        return {"loss": 3.0 / (epoch + 1), "seconds": 0.5, "lr": 0.1}

    def state_dict(self):
        return {"epochs_done": self.epochs_done}

    def load_state_dict(self, state):
        self.epochs_done = state["epochs_done"]

    def word_vectors(self):
        matrix = np.eye(len(self.words), dtype=np.float32) + self.epochs_done
        return WordVectors(self.words, matrix)


def make_task(extra_artifacts=None) -> EmbeddingTask:
    sentences = [["a", "b", "a", "c", "zz"]]
    vocab = Vocab(sentences, min_count=1)
    corpus = Corpus(vocab, *vocab.encode(sentences), "sha1:x")
    return EmbeddingTask(CountingTrainer(vocab.words), corpus, 2, ("a", "nowhere"), "test",
                         extra_artifacts=extra_artifacts)


def test_rows_per_epoch_are_its_batches_then_the_epoch_with_speed_and_rho():
    task = make_task()
    assert task.initial_rows() == []
    assert task.train_step(1) == 3.0
    rows = task.evaluate(1)
    assert [(r["epoch"], r["progress"], r["loss"]) for r in rows] == [(1, 0.5, 4.0), (1, 1.0, 2.0), (1, 1.0, 3.0)]
    assert rows[-1]["lr"] == 0.1 and rows[-1]["words_per_s"] == 5 / 0.5  # raw corpus tokens per second
    assert set(rows[-1]) == set(task.columns)
    task.train_step(2)
    assert [r["progress"] for r in task.evaluate(2)] == [1.5, 2.0, 2.0]


def test_artifacts_hold_the_vectors_vocabulary_and_the_models_extra_files(tmp_path):
    written = []
    task = make_task(extra_artifacts=lambda run_dir: written.append(sorted(p.name for p in run_dir.iterdir())))
    task.train_step(1)
    rows = task.evaluate(1)
    task.write_artifacts(tmp_path, rows)
    assert written == [[]]  # the model's files come first
    vectors = load_vectors(tmp_path / "vectors.txt")
    assert vectors.words == ["a", "b", "c", "zz"] and np.array_equal(vectors.matrix, np.eye(4) + 1)
    assert (tmp_path / "vocab.tsv").read_text() == "a\t2\nb\t1\nc\t1\nzz\t1\n"
    assert (tmp_path / "loss.png").is_file()
    assert list(task.notes()["neighbours"]) == ["a"]


def test_config_modules_import_neither_torch_nor_numpy():
    """The CLI builds flags and validates configs (and prints --help) from these modules cheaply."""
    modules = ", ".join(f"d2l_lab.experiments.{name}" for name in EMBEDDING_MODULES)
    code = f"import sys, {modules}; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
