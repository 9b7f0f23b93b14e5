"""The one run-loop task of every embedding model: the corpus, one run-loop step per epoch,
per-epoch evaluation, and the artefacts every embedding run leaves (`vectors.txt`, `vocab.tsv`,
`loss.png` when there is a curve, evaluation and probe-word neighbours in `summary.json`).

A model plugs in through `EmbeddingTrainer`, four methods; what else a model saves (fastText's
n-gram table) comes in as `extra_artifacts`. A model's `build_task` is then a few lines: read the
corpus (`read_corpus`), build its trainer, return `EmbeddingTask(...)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from d2l_lab.embeddings.cooccurrence import Cooccurrences, cooccurrence_cache_key, cooccurrences
from d2l_lab.embeddings.vector_formats import unstorable_word
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

PROBE_NEIGHBOURS = 5


class EmbeddingTrainer(Protocol):
    def train_epoch(self, epoch: int, on_batch: Callable[[int, float], None] | None = None) -> dict[str, Any]:
        """Train epoch `epoch` (0-based, the next one). Returns at least `loss` (mean per example)
        and `seconds`, and `lr` where there is one; calls `on_batch(batches_done, recent_loss)`
        now and then if it has batches."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def word_vectors(self) -> WordVectors: ...


@dataclass(frozen=True)
class Corpus:
    """A corpus as the models read it: its vocabulary, token ids and sentence starts (as
    `Vocab.encode` returns them; memory-mapped int32 ids and int64 offsets when read from a
    file), and the checksum of the text they came from."""

    vocab: Vocab
    ids: np.ndarray
    offsets: np.ndarray
    checksum: str

    def cooccurrences(self, window: int) -> Cooccurrences:
        """The co-occurrence counts (1/distance within `window`), from the on-disk cache when the
        same corpus, vocabulary and window were counted before."""
        key = cooccurrence_cache_key(self.checksum, self.vocab.words, self.vocab.counts, window)
        return cooccurrences(self.ids, self.offsets, len(self.vocab), window, cache_key=key)


def read_corpus(corpus: str | None, min_count: int, *, progress: Progress | None = None,
                block_size: int | None = None, cache_dir: Path | None = None) -> Corpus:
    """The bundled PTB (default) or a user's corpus file or directory, with its words seen
    >= min_count times, read as a stream: one pass counts the words, one encodes the ids to
    the corpus cache (`embeddings.encoded_corpus`); both are skipped when cached.

    `progress(bytes_done, bytes_total)` follows each pass over a user's corpus; `block_size`
    is the read size (the result never depends on it).
    """
    from d2l_lab.datasets import corpus as datasets
    from d2l_lab.embeddings.encoded_corpus import cached_ids, cached_vocab

    if corpus is None:
        checksum = datasets.ptb_checksum()
        lines: Callable[[], Iterable[str]] = datasets.ptb_lines
    else:
        checksum = datasets.corpus_checksum(corpus)
        read = {} if block_size is None else {"block_size": block_size}
        lines = functools.partial(datasets.corpus_lines, corpus, progress=progress, **read)
    vocab = cached_vocab(lines, checksum, min_count, cache_dir)
    if len(vocab) < 2:
        source = f"corpus '{corpus}'" if corpus else "the corpus"
        raise UserError(f"{source} has {len(vocab)} word(s) seen at least min_count={min_count} times: "
                        "lower --min-count or use a larger corpus")
    if (bad := unstorable_word(vocab.words)) is not None:  # else the run could not read its own vectors.txt
        raise UserError(f"corpus '{corpus}': the word {ascii(bad)[:60]} holds a control character, which "
                        "vectors.txt cannot store and read back: remove it from the corpus")
    ids, offsets = cached_ids(lines, checksum, vocab, cache_dir)
    if len(offsets) < 2 or int(np.diff(offsets).max()) < 2:  # no line holds two words: no (centre, context) pair
        source = f"corpus '{corpus}'" if corpus else "the corpus"
        raise UserError(f"{source} has no line with two or more words seen at least min_count={min_count} "
                        "times, so there is nothing to train on: give sentences one per line, words separated "
                        "by spaces")
    return Corpus(vocab, ids, offsets, checksum)


class EmbeddingTask:
    """One run-loop step is one epoch; every epoch logs its loss, speed and WordSim-353 rho."""

    columns = ("epoch", "progress", "loss", "lr", "words_per_s", "wordsim353_rho")
    checkpoint_every = 1

    def __init__(self, trainer: EmbeddingTrainer, corpus: Corpus, epochs: int, probe_words: tuple[str, ...],
                 label: str, extra_artifacts: Callable[[Path], None] | None = None):
        self.trainer = trainer
        self.vocab = corpus.vocab
        self.total_steps = epochs
        self.probe_words = probe_words
        self.data_checksum = corpus.checksum
        self.label = label
        self.extra_artifacts = extra_artifacts
        """Writes what the model saves beyond every run's artefacts, into the run directory."""
        self._pending: list[dict[str, Any]] = []
        self._last_epoch: dict[str, Any] = {}
        self._evaluation: tuple[int, dict[str, Any]] | None = None
        self._steps_done = 0

    def initial_rows(self) -> list[dict[str, Any]]:
        return []

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
        """The batch rows of the epoch just trained, then the epoch's own row."""
        from d2l_lab.datasets.evalsets import load_wordsim353
        from d2l_lab.embeddings.evaluation import evaluate_similarity

        rho = evaluate_similarity(self.trainer.word_vectors(), load_wordsim353())["rho"]
        epoch = self._last_epoch
        # Raw corpus words (out-of-vocabulary ones too) per second of training, for every model.
        epoch_row = {"epoch": step, "progress": float(step), "loss": epoch["loss"], "lr": epoch.get("lr", ""),
                     "words_per_s": round(self.vocab.total_tokens / epoch["seconds"]), "wordsim353_rho": rho}
        rows, self._pending = [*self._pending, epoch_row], []
        return rows

    def final_metrics(self, step: int | None = None) -> dict[str, Any]:
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
        """The model's extra files first, so that a run directory with `vectors.txt` is complete."""
        from d2l_lab import plotting
        from d2l_lab.embeddings.vector_formats import save_word2vec_text
        from d2l_lab.files import atomic_write_text

        if self.extra_artifacts is not None:
            self.extra_artifacts(run_dir)
        save_word2vec_text(self.trainer.word_vectors(), run_dir / "vectors.txt")
        atomic_write_text(run_dir / "vocab.tsv", "".join(
            f"{w}\t{c}\n" for w, c in zip(self.vocab.words, self.vocab.counts.tolist())))
        # The batch rows' running loss is the curve; an epoch's own row holds the mean over the
        # whole epoch, which drawn on the same line would jump at every epoch's end.
        curve = [r for r in rows if r.get("wordsim353_rho") in (None, "")] or rows
        if len(curve) > 1:  # one point is no curve (PPMI-SVD's single factorisation)
            plotting.curve_plot(run_dir / "loss.png", {self.label: ([float(r["progress"]) for r in curve],
                                                                   [float(r["loss"]) for r in curve])},
                                xlabel="epoch", ylabel="training loss (mean of recent batches)")

    def diverged_hint(self) -> str:
        return "try a smaller --lr"

    def warnings(self) -> list[str]:
        return []
