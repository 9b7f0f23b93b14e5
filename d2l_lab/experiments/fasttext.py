"""`d2l run fasttext`: skip-gram over subword (character n-gram) vectors (book 15.6).

Its settings and trainer live in `embeddings.fasttext`; this module adds the run's settings and
builds the run's task. Importing it needs no torch or numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param
from d2l_lab.embeddings.fasttext.config import FastTextConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress


@dataclass(frozen=True)
class FastTextRunConfig(CorpusRunConfig):
    fasttext: FastTextConfig = param(FastTextConfig(), "subword, model, sampling and optimisation settings")


def build_task(config: FastTextRunConfig, device: Any, progress: Progress | None = None) -> Any:
    """The embedding task, which also saves the n-gram table (`subwords.npz`) so that queries on
    the run directory embed words the corpus never had."""
    from d2l_lab.embeddings.fasttext.trainer import FastTextTrainer
    from d2l_lab.embeddings.run_vectors import SUBWORDS_NAME
    from d2l_lab.experiments.embedding_task import EmbeddingTask, read_corpus

    cfg = config.fasttext
    corpus = read_corpus(config.corpus, cfg.min_count, progress=progress)
    trainer = FastTextTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, config.seed, device)
    return EmbeddingTask(trainer, corpus, cfg.epochs, cfg.probe_words,
                         f"fastText {cfg.combine} of {cfg.min_n}-{cfg.max_n}-grams, dim {cfg.dim}",
                         extra_artifacts=lambda run_dir: trainer.subword_vectors().save(run_dir / SUBWORDS_NAME),
                         scoring=config)
