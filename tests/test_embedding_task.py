"""The one embedding task every model plugs into: the run-loop contract, and the rows and files it
makes from any trainer offering the four `EmbeddingTrainer` methods."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.experiments.corpus_config import CorpusRunConfig
from d2l_lab.experiments.embedding_task import Corpus, EmbeddingTask

EMBEDDING_MODULES = ("word2vec", "fasttext", "glove", "ppmi_svd")


class CountingTrainer:
    """A stand-in model: epochs of two parts of one batch each, vectors that move by one each epoch."""

    parts_per_epoch = 2

    def __init__(self, words: list[str]) -> None:
        self.words, self.epochs_done, self.parts_done = words, 0, 0

    def train_part(self, epoch, part, on_batch=None):
        assert (epoch, part) == (self.epochs_done, self.parts_done)
        position = epoch + (part + 1) / 2
        on_batch(position, (4.0, 2.0)[part] / (epoch + 1))
        self.parts_done = (part + 1) % 2
        self.epochs_done += part
        mean = (4.0, 3.0)[part] / (epoch + 1)  # of the epoch's batches so far
        return {"loss": mean, "seconds": 0.25 * (part + 1), "lr": 0.1, "position": position}

    def state_dict(self):
        return {"epochs_done": self.epochs_done}

    def load_state_dict(self, state):
        self.epochs_done = state["epochs_done"]

    def word_vectors(self):
        matrix = np.eye(len(self.words), dtype=np.float32) + self.epochs_done
        return WordVectors(self.words, matrix)


def make_task(extra_artifacts=None, trainer=CountingTrainer, **scoring) -> EmbeddingTask:
    sentences = [["a", "b", "a", "c", "zz"]]
    vocab = Vocab(sentences, min_count=1)
    corpus = Corpus(vocab, *vocab.encode(sentences), "sha1:x")
    return EmbeddingTask(trainer(vocab.words), corpus, 2, ("a", "nowhere"), "test",
                         extra_artifacts=extra_artifacts, scoring=CorpusRunConfig(**scoring))


def test_steps_are_parts_and_rows_are_their_batches_then_the_epoch_with_speed_and_rho():
    task = make_task()
    assert (task.total_steps, task.checkpoint_every) == (4, 2)  # 2 epochs of 2 parts; a checkpoint per epoch
    assert task.initial_rows() == []
    assert task.train_step(1) == 4.0
    assert [(r["epoch"], r["progress"], r["loss"]) for r in task.evaluate(1)] == [(1, 0.5, 4.0)]  # no epoch row yet
    # Half of the 5 corpus tokens in 0.25 s of training.
    assert task.progress() == {"epoch": 0.5, "epochs": 2, "words_per_s": 10.0, "lr": 0.1}
    assert task.train_step(2) == 3.0
    rows = task.evaluate(2)
    assert [(r["epoch"], r["progress"], r["loss"]) for r in rows] == [(1, 1.0, 2.0), (1, 1.0, 3.0)]
    assert rows[-1]["lr"] == 0.1 and rows[-1]["words_per_s"] == 5 / 0.5  # raw corpus tokens per second
    assert set(rows[-1]) == set(task.columns)
    task.train_step(3)
    assert [r["progress"] for r in task.evaluate(3)] == [1.5]
    assert task.final_metrics(3)["epochs"] == 1.5  # a run stopped here says how far it went
    task.train_step(4)
    assert [r["progress"] for r in task.evaluate(4)] == [2.0, 2.0]
    assert task.final_metrics(4)["epochs"] == 2


def test_evaluations_per_epoch_add_rows_of_the_score_alone_at_each_share_and_the_epochs_end():
    """The score's own rows are its curve (`runs.compare.curve_rows`: fewer columns than the epoch
    row, which keeps the score tables read); the epoch's end gets one too, so the curve reaches it."""
    task = make_task(evals_per_epoch=2)
    rows = []
    for step in range(1, 5):
        task.train_step(step)
        rows += task.evaluate(step)
    scored = [(r["epoch"], r["progress"], set(r)) for r in rows if "wordsim353_rho" in r]
    alone = {"epoch", "progress", "wordsim353_rho"}
    assert scored == [(1, 0.5, alone), (1, 1.0, alone), (1, 1.0, set(task.columns)),
                      (2, 1.5, alone), (2, 2.0, alone), (2, 2.0, set(task.columns))]
    epoch_rows = [r for r in rows if "words_per_s" in r]
    assert [r["wordsim353_rho"] for r in epoch_rows] == [r["wordsim353_rho"] for r in rows
                                                       if set(r) == alone and r["progress"] in (1.0, 2.0)]
    assert [len(r) for r in rows if r["progress"] == 0.5] == [3, 3]  # the batch row, then the score's


@pytest.mark.parametrize(("parts", "evals", "due"), [
    (36, 4, [9, 18, 27, 36]),  # PTB: 36 parts of 25k tokens, scored at 0.25, 0.5, 0.75 and 1 epoch
    (5, 3, [2, 4, 5]),  # shares end 5/3, 10/3 and 5 parts in: at the end of the parts they fall in
    (2, 1, [2]),  # the default: the epoch's end alone
    (3, 7, [1, 2, 3]),  # more evaluations than parts: every part, once
])
def test_an_evaluation_is_due_at_the_end_of_the_part_each_share_of_the_epoch_ends_in(parts, evals, due):
    task = make_task(evals_per_epoch=evals, trainer=type("Parts", (CountingTrainer,), {"parts_per_epoch": parts}))
    assert [s for s in range(1, 2 * parts + 1) if task.evaluation_due(s)] == due + [parts + s for s in due]


def test_the_sets_a_run_names_are_scored_after_the_bundled_ones():
    names = [s.name for s in make_task(eval_sets=("men3k", "wordsim353", "bats3")).eval_sets]
    assert names == ["wordsim353", "simlex999", "google_analogy", "men3k", "bats3"]


def test_a_state_saved_with_other_steps_per_epoch_is_refused():
    """A checkpoint from before epochs had parts counts epochs as steps: resuming it would skip parts."""
    task = make_task()
    task.train_step(1)
    state = task.state_dict()
    assert state["parts_per_epoch"] == 2
    make_task().load_state_dict(state)
    with pytest.raises(ValueError, match="counts 1 steps per epoch, this run 2"):
        make_task().load_state_dict({k: v for k, v in state.items() if k != "parts_per_epoch"})


def test_artifacts_hold_the_vectors_vocabulary_and_the_models_extra_files(tmp_path):
    written = []
    task = make_task(extra_artifacts=lambda run_dir: written.append(sorted(p.name for p in run_dir.iterdir())))
    rows = []
    for step in (1, 2):
        task.train_step(step)
        rows += task.evaluate(step)
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
