"""`d2l run word2vec`: skip-gram and CBOW with negative sampling, hierarchical softmax or the full
softmax (book 15.1-15.4).

The model is `embeddings.reference` (the book's); `embeddings.word2vec` holds its settings and
trains it fast. This module adds the run's settings and builds the run's task. Importing it needs
no torch, so the CLI can build and validate configs cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress


@dataclass(frozen=True)
class Word2VecRunConfig(CorpusRunConfig):
    word2vec: Word2VecConfig = param(Word2VecConfig(), "model, sampling and optimisation settings")

    def resolved(self) -> Word2VecRunConfig:
        return dataclasses.replace(self, word2vec=self.word2vec.resolved())


def build_task(config: Word2VecRunConfig, device: Any, progress: Progress | None = None) -> Any:
    from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
    from d2l_lab.experiments.embedding_task import EmbeddingTask, read_corpus

    cfg = config.word2vec
    corpus = read_corpus(config.corpus, cfg.min_count, progress=progress)
    trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, config.seed, device)
    return EmbeddingTask(trainer, corpus, cfg.epochs, cfg.probe_words,
                         f"{cfg.model} ({cfg.loss}), dim {cfg.dim}, window {cfg.window}", scoring=config)
