"""`d2l run glove`: GloVe fitted to weighted co-occurrence counts (book 15.5).

Its settings and trainer live in `embeddings.glove`; this module adds the run's settings and
builds the run's task. Importing it needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param
from d2l_lab.embeddings.glove.config import GloveConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress


@dataclass(frozen=True)
class GloveRunConfig(CorpusRunConfig):
    glove: GloveConfig = param(GloveConfig(), "co-occurrence window, weighting and optimisation settings")


def build_task(config: GloveRunConfig, device: Any, progress: Progress | None = None) -> Any:
    from d2l_lab.embeddings.glove.trainer import GloveTrainer
    from d2l_lab.experiments.embedding_task import EmbeddingTask, read_corpus

    cfg = config.glove
    corpus = read_corpus(config.corpus, cfg.min_count, progress=progress)
    trainer = GloveTrainer(corpus.cooccurrence_entries(cfg.window), corpus.vocab.words, cfg, config.seed, device)
    return EmbeddingTask(trainer, corpus, cfg.epochs, cfg.probe_words, f"GloVe, dim {cfg.dim}, window {cfg.window}",
                         scoring=config)
