"""What word2vec, GloVe and fastText runs share: the corpus, one run-loop step per epoch,
per-epoch evaluation, and the artefacts every embedding run leaves (`vectors.txt`, `vocab.tsv`,
`loss.png`, evaluation and probe-word neighbours in `summary.json`).

An embedding trainer only has to offer `train_epoch(epoch, on_batch)`, `state_dict()`,
`load_state_dict()` and `word_vectors()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.errors import UserError

PROBE_NEIGHBOURS = 5


class EpochTrainer(Protocol):
    def train_epoch(self, epoch: int, on_batch: Any = None) -> dict[str, Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def word_vectors(self) -> WordVectors: ...


def prepare_corpus(corpus: str | None, min_count: int) -> tuple[Vocab, np.ndarray, np.ndarray, str]:
    """The bundled PTB (default) or a user's corpus file, as a vocabulary, token ids, sentence
    offsets and the checksum of what was read."""
    from d2l_lab.datasets.corpus import corpus_checksum, ptb_checksum, read_corpus, read_ptb

    if corpus is None:
        sentences, checksum = read_ptb(), ptb_checksum()
    else:
        sentences, checksum = read_corpus(corpus), corpus_checksum(corpus)
    vocab = Vocab(sentences, min_count)
    if len(vocab) < 2:
        source = f"corpus '{corpus}'" if corpus else "the corpus"
        raise UserError(f"{source} has {len(vocab)} word(s) seen at least min_count={min_count} times: "
                        "lower --min-count or use a larger corpus")
    ids, offsets = vocab.encode(sentences)
    return vocab, ids, offsets, checksum


class EmbeddingTask:
    """One run-loop step is one epoch; every epoch logs its loss, speed and WordSim-353 rho."""

    columns = ("epoch", "progress", "loss", "lr", "words_per_s", "wordsim353_rho")
    checkpoint_every = 1

    def __init__(self, trainer: EpochTrainer, vocab: Vocab, epochs: int, probe_words: tuple[str, ...],
                 data_checksum: str, label: str):
        self.trainer = trainer
        self.vocab = vocab
        self.total_steps = epochs
        self.probe_words = probe_words
        self.data_checksum = data_checksum
        self.label = label
        self._pending: list[dict[str, Any]] = []
        self._last_epoch: dict[str, Any] = {}
        self._evaluation: tuple[int, dict[str, Any]] | None = None
        self._steps_done = 0

    def initial_row(self) -> None:
        return None

    def train_step(self, step: int) -> float:
        epoch = step - 1
        batches: list[tuple[int, float]] = []
        metrics = self.trainer.train_epoch(epoch, on_batch=lambda done, loss: batches.append((done, loss)))
        total = max(batches[-1][0], 1) if batches else 1
        self._pending = [{"epoch": step, "progress": epoch + done / total, "loss": loss} for done, loss in batches]
        self._last_epoch = metrics
        self._steps_done = step
        return metrics["loss"]

    def _standard_evaluation(self) -> dict[str, Any]:
        """The full evaluation of the current vectors, computed once per state."""
        from d2l_lab.embeddings.standard_eval import evaluate_standard

        if self._evaluation is None or self._evaluation[0] != self._steps_done:
            self._evaluation = (self._steps_done, evaluate_standard(self.trainer.word_vectors()))
        return self._evaluation[1]

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        from d2l_lab.datasets.evalsets import load_wordsim353
        from d2l_lab.embeddings.evaluation import evaluate_similarity

        rho = evaluate_similarity(self.trainer.word_vectors(), load_wordsim353())["rho"]
        epoch_row = {"epoch": step, "progress": float(step), "loss": self._last_epoch["loss"],
                     "lr": self._last_epoch.get("lr", ""), "words_per_s": round(self._last_epoch.get(
                         "raw_words_per_s", 0.0)), "wordsim353_rho": rho}
        rows, self._pending = [*self._pending, epoch_row], []
        return rows

    def final_metrics(self) -> dict[str, Any]:
        evaluation = self._standard_evaluation()
        return {
            "loss": self._last_epoch.get("loss"),
            "wordsim353_rho": evaluation["wordsim353"]["rho"],
            "simlex999_rho": evaluation["simlex999"]["rho"],
            "analogy_accuracy": evaluation["google_analogy"]["accuracy"],
            "vocab_size": len(self.vocab),
        }

    def notes(self) -> dict[str, Any]:
        vectors = self.trainer.word_vectors()
        neighbours = {word: [[w, round(s, 4)] for w, s in vectors.most_similar(word, PROBE_NEIGHBOURS)]
                      for word in self.probe_words if word in vectors}
        return {"corpus_tokens": int(self.vocab.counts.sum()), "evaluation": self._standard_evaluation(),
                "neighbours": neighbours}

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        from d2l_lab import plotting
        from d2l_lab.embeddings.vector_formats import save_word2vec_text
        from d2l_lab.files import atomic_write_text

        save_word2vec_text(self.trainer.word_vectors(), run_dir / "vectors.txt")
        atomic_write_text(run_dir / "vocab.tsv", "".join(
            f"{w}\t{c}\n" for w, c in zip(self.vocab.words, self.vocab.counts.tolist())))
        plotting.curve_plot(run_dir / "loss.png", {self.label: ([r["progress"] for r in rows],
                                                               [r["loss"] for r in rows])},
                            xlabel="epoch", ylabel="training loss")

    def diverged_hint(self) -> str:
        return "try a smaller --lr"

    def warnings(self) -> list[str]:
        return []
