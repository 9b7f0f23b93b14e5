"""The one run-loop task of every embedding model: the corpus, run-loop steps that are parts of
an epoch, per-epoch evaluation, and the artefacts every embedding run leaves (`vectors.txt`,
`vocab.tsv`, `loss.png` when there is a curve, evaluation and probe-word neighbours in
`summary.json`).

Steps are parts of an epoch. A trainer cuts each epoch into `parts_per_epoch` parts of a
fraction of a second (word2vec and fastText: 25k corpus tokens of a chunk; GloVe: 150k
co-occurrence entries; PPMI-SVD: its one factorisation), and one run-loop step trains one part.
So the run loop's progress events (`Stepped`, with the position in epochs, words/s and lr from
`progress`) move within an epoch, and its stop check between steps answers Ctrl-C within about
a second. `--epochs` still counts epochs: a run has epochs x parts_per_epoch steps, and it
checkpoints at every epoch's end and when it stops, not at every part (a checkpoint holds both
tables, megabytes). Each trainer's state holds its position and the epoch's running sums, and
the cut changes nothing that is computed, so a run stopped between any two parts and resumed
gives byte-identical vectors (one worker, CPU). metrics.csv keeps one row per epoch (with its
WordSim-353 rho) and in-epoch loss points every 50 batches, placed by `progress` in epochs; with
`evals_per_epoch` > 1 also rows of the rho alone, at the parts that end each share of the epoch
(a search's pruner judges a trial at each; scoring reads the vectors, so training is unchanged).

A model plugs in through `EmbeddingTrainer`, five members; what else a model saves (fastText's
n-gram table) comes in as `extra_artifacts`, and what every embedding run scores (`eval_sets`,
`evals_per_epoch`) as `scoring`, the run's config. A model's `build_task` is then a few lines: read the
corpus (`read_corpus`), build its trainer, return `EmbeddingTask(...)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from d2l_lab.embeddings import eval_sets
from d2l_lab.embeddings.cooccurrence import (
    Cooccurrences,
    cooccurrence_cache_key,
    cooccurrence_entries,
    cooccurrences,
)
from d2l_lab.embeddings.cooccurrence_file import Entries
from d2l_lab.embeddings.vector_formats import unstorable_word
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.errors import UserError
from d2l_lab.experiments.corpus_config import CorpusRunConfig

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

PROBE_NEIGHBOURS = 5


class EmbeddingTrainer(Protocol):
    parts_per_epoch: int
    """Run-loop steps per epoch, each a fraction of a second of training."""

    def train_part(self, epoch: int, part: int, on_batch: Callable[[float, float], None] | None = None
                   ) -> dict[str, Any]:
        """Train part `part` of epoch `epoch` (0-based, the next one). Returns the epoch's metrics
        so far: at least `loss` (mean per example), `seconds` (of training) and `position` (epochs
        done, e.g. 2.5), and `lr` where there is one; after the epoch's last part, the epoch's.
        Calls `on_batch(position, recent_loss)` now and then if it has batches."""

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
    warnings: tuple[str, ...] = ()
    """What the user should know about how it was read (a corpus directory's skipped entries)."""

    def cooccurrences(self, window: int) -> Cooccurrences:
        """The co-occurrence counts (1/distance within `window`), from the on-disk cache when the
        same corpus, vocabulary and window were counted before."""
        return cooccurrences(self.ids, self.offsets, len(self.vocab), window, cache_key=self._cooccurrence_key(window))

    def cooccurrence_entries(self, window: int) -> Entries:
        """The same counts as a checked file in the cache, for reading a block at a time."""
        return cooccurrence_entries(self.ids, self.offsets, len(self.vocab), window,
                                    cache_key=self._cooccurrence_key(window))

    def _cooccurrence_key(self, window: int) -> str:
        return cooccurrence_cache_key(self.checksum, self.vocab.words, self.vocab.counts, window)


def read_corpus(corpus: str | None, min_count: int, *, progress: Progress | None = None,
                block_size: int | None = None, cache_dir: Path | None = None) -> Corpus:
    """The bundled PTB (default) or a user's corpus file or directory, with its words seen
    >= min_count times, read as a stream: one pass counts the words, one encodes the ids to
    the corpus cache (`embeddings.encoded_corpus`); both are skipped when cached.

    `progress(bytes_done, bytes_total)` follows each pass over a user's corpus; `block_size`
    is the read size (the result never depends on it).
    """
    from d2l_lab.datasets import corpus as datasets
    from d2l_lab.datasets.corpus_files import CorpusChanged, skipped_entries
    from d2l_lab.embeddings.encoded_corpus import cached_ids, cached_vocab, forget

    warnings: tuple[str, ...] = ()
    if corpus is None:
        checksum = datasets.ptb_checksum()
        lines: Callable[[], Iterable[str]] = datasets.ptb_lines
    else:
        read = datasets.snapshot(corpus)  # a corpus read later must be the one checksummed now
        checksum = read.checksum
        warnings = tuple(filter(None, [skipped_entries(corpus)]))
        lines = functools.partial(datasets.corpus_lines, corpus, progress=progress, expected=read.stamps,
                                  **({} if block_size is None else {"block_size": block_size}))
    source = f"corpus '{corpus}'" if corpus else "the corpus"
    try:
        vocab = cached_vocab(lines, checksum, min_count, cache_dir)
        _check_vocab(vocab, source, min_count)
        ids, offsets = cached_ids(lines, checksum, vocab, cache_dir, source=source)
    except CorpusChanged:
        forget(checksum, min_count, cache_dir)  # an entry counted from one version of the file, if any
        raise
    if len(offsets) < 2 or int(np.diff(offsets).max()) < 2:  # no line holds two words: no (centre, context) pair
        raise UserError(f"{source} has no line with two or more words seen at least min_count={min_count} "
                        "times, so there is nothing to train on: give sentences one per line, words separated "
                        "by spaces")
    return Corpus(vocab, ids, offsets, checksum, warnings)


def _check_vocab(vocab: Vocab, source: str, min_count: int) -> None:
    if len(vocab) < 2:
        raise UserError(f"{source} has {len(vocab)} word(s) seen at least min_count={min_count} times: "
                        "lower --min-count or use a larger corpus")
    if (bad := unstorable_word(vocab.words)) is not None:  # else the run could not read its own vectors.txt
        raise UserError(f"{source}: the word {ascii(bad)[:60]} holds a control character, which "
                        "vectors.txt cannot store and read back: remove it from the corpus")


class EmbeddingTask:
    """One run-loop step is one part of an epoch; every epoch logs its loss, speed and the score of
    `eval_sets.EVERY_EPOCH` (WordSim-353 rho), scored `evals_per_epoch` times an epoch."""

    columns = ("epoch", "progress", "loss", "lr", "words_per_s", eval_sets.EVERY_EPOCH.metric)

    def __init__(self, trainer: EmbeddingTrainer, corpus: Corpus, epochs: int, probe_words: tuple[str, ...],
                 label: str, extra_artifacts: Callable[[Path], None] | None = None,
                 scoring: CorpusRunConfig = CorpusRunConfig()):
        self.trainer = trainer
        self.vocab = corpus.vocab
        self.corpus_warnings = corpus.warnings
        self.epochs = epochs
        self.parts_per_epoch = trainer.parts_per_epoch
        self.total_steps = epochs * self.parts_per_epoch
        self.checkpoint_every = self.parts_per_epoch
        """At every epoch's end (the run loop also checkpoints when it stops)."""
        self.probe_words = probe_words
        self.data_checksum = corpus.checksum
        self.label = label
        self.extra_artifacts = extra_artifacts
        """Writes what the model saves beyond every run's artefacts, into the run directory."""
        self.eval_sets = tuple(dict.fromkeys((*eval_sets.DEFAULT_SETS, *eval_sets.named_sets(scoring.eval_sets))))
        """The sets scored at the end: the bundled ones, then those the run's `eval_sets` names."""
        self.evals_per_epoch = scoring.evals_per_epoch
        """Scores of `eval_sets.EVERY_EPOCH` an epoch (`evaluation_due`), the last at its end."""
        self._pending: list[dict[str, Any]] = []
        self._latest: dict[str, Any] = {}
        """The trainer's metrics after the last part trained: the epoch's so far."""
        self._evaluation: tuple[int, dict[str, Any]] | None = None
        self._steps_done = 0
        self._complete = True
        """Whether `final_metrics` was asked about the end of the run (then `notes` evaluates fully)."""

    def initial_rows(self) -> list[dict[str, Any]]:
        return []

    def train_step(self, step: int) -> float:
        """Train one part; returns the loss of its epoch so far (the epoch's at its last part)."""
        epoch, part = divmod(step - 1, self.parts_per_epoch)
        points: list[tuple[float, float]] = []
        self._latest = self.trainer.train_part(epoch, part, on_batch=lambda position, loss: points.append(
            (position, loss)))
        self._pending += [{"epoch": epoch + 1, "progress": position, "loss": loss} for position, loss in points]
        self._steps_done = step
        return self._latest["loss"]

    def progress(self) -> dict[str, Any]:
        """Where the run stands, for progress displays (`Stepped.detail`): position in epochs (a
        fraction), epochs planned, raw corpus words per second of this epoch's training, lr."""
        latest = self._latest
        epoch = (self._steps_done - 1) // self.parts_per_epoch
        words = self.vocab.total_tokens * (latest["position"] - epoch)
        detail = {"epoch": latest["position"], "epochs": self.epochs}
        if latest["seconds"] > 0:
            detail["words_per_s"] = words / latest["seconds"]
        if "lr" in latest:
            detail["lr"] = latest["lr"]
        return detail

    def _standard_evaluation(self) -> dict[str, Any]:
        """The full evaluation of the current vectors, computed once per state."""
        from d2l_lab.embeddings.standard_eval import evaluate_standard

        if self._evaluation is None or self._evaluation[0] != self._steps_done:
            self._evaluation = (self._steps_done, evaluate_standard(self.trainer.word_vectors(),
                                                                          sets=self.eval_sets))
        return self._evaluation[1]

    def _quick_score(self) -> float:
        """The score of `eval_sets.EVERY_EPOCH` on the current vectors (NaN when nothing was usable)."""
        from d2l_lab.embeddings.standard_eval import evaluate_set

        quick = eval_sets.EVERY_EPOCH
        return evaluate_set(self.trainer.word_vectors(), quick)[quick.score]

    def evaluation_due(self, step: int) -> bool:
        """Whether one of the epoch's `evals_per_epoch` equal shares ends within the part that
        run-loop step `step` trains (it is then scored at the part's end)."""
        part = (step - 1) % self.parts_per_epoch + 1
        shares_ended = part * self.evals_per_epoch // self.parts_per_epoch
        return shares_ended > (part - 1) * self.evals_per_epoch // self.parts_per_epoch

    def evaluate(self, step: int) -> list[dict[str, Any]]:
        """The batch rows of the part just trained; with `evals_per_epoch` > 1, an evaluation row
        where one is due (at the epoch's end too, so that the score's curve reaches it); at an
        epoch's end, the epoch's own row."""
        rows, self._pending = self._pending, []
        metric = eval_sets.EVERY_EPOCH.metric
        score = self._quick_score() if self.evaluation_due(step) else None
        if score is not None and self.evals_per_epoch > 1:
            rows.append({"epoch": (step - 1) // self.parts_per_epoch + 1, "progress": self._latest["position"],
                         metric: score})
        if step % self.parts_per_epoch:
            return rows
        epoch, latest = step // self.parts_per_epoch, self._latest
        # Raw corpus words (out-of-vocabulary ones too) per second of training, for every model.
        return [*rows, {"epoch": epoch, "progress": float(epoch), "loss": latest["loss"], "lr": latest.get("lr", ""),
                        "words_per_s": round(self.vocab.total_tokens / latest["seconds"]), metric: score}]

    def final_metrics(self, step: int | None = None) -> dict[str, Any]:
        """The evaluation of the vectors as they stand; `epochs` is how far training went (a
        fraction when a run was stopped within an epoch: the parts done over parts per epoch).

        Each evaluation set gives its `metric`. A run stopped early (interrupted: it will be
        resumed) gets `eval_sets.EVERY_EPOCH`'s alone, which is instant: the full evaluation
        (SimLex-999, 19.5k analogies; ~0.5 s on PTB) waits for the end of the run, so that Ctrl-C
        exits within about a second. `notes` follows suit."""
        reached = self._steps_done if step is None else step
        self._complete = reached == self.total_steps
        metrics = {"epochs": round(reached / self.parts_per_epoch, 4), "loss": self._latest.get("loss")}
        if not self._complete:
            return {**metrics, eval_sets.EVERY_EPOCH.metric: self._quick_score(), "vocab_size": len(self.vocab)}
        evaluation = self._standard_evaluation()
        scores = {s.metric: evaluation[s.name][s.score] for s in self.eval_sets}
        return {**metrics, **scores, "vocab_size": len(self.vocab)}

    def notes(self) -> dict[str, Any]:
        """The corpus size; for a complete run also the full evaluation and the probe words' neighbours."""
        notes: dict[str, Any] = {"corpus_tokens": int(self.vocab.counts.sum())}
        if not self._complete:
            return notes
        vectors = self.trainer.word_vectors()
        neighbours = {word: [[w, round(s, 4)] for w, s in vectors.most_similar(word, PROBE_NEIGHBOURS)]
                      for word in self.probe_words if word in vectors}
        return {**notes, "evaluation": self._standard_evaluation(), "neighbours": neighbours}

    def state_dict(self) -> dict[str, Any]:
        """The trainer's state, and the parts per epoch that give the run loop's step its meaning."""
        return {**self.trainer.state_dict(), "parts_per_epoch": self.parts_per_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("parts_per_epoch", 1) != self.parts_per_epoch:
            raise ValueError(f"it counts {state.get('parts_per_epoch', 1)} steps per epoch, this run "
                             f"{self.parts_per_epoch}: it was saved by another version of d2l-lab")
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
        curve = [r for r in rows if r.get(eval_sets.EVERY_EPOCH.metric) in (None, "")] or rows
        if len(curve) > 1:  # one point is no curve (PPMI-SVD's single factorisation)
            plotting.curve_plot(run_dir / "loss.png", {self.label: ([float(r["progress"]) for r in curve],
                                                                   [float(r["loss"]) for r in curve])},
                                xlabel="epoch", ylabel="training loss (mean of recent batches)", smooth=True)

    def diverged_hint(self) -> str:
        return "try a smaller --lr"

    def warnings(self) -> list[str]:
        return list(self.corpus_warnings)
