"""Build the run-loop task of a GloVe run: corpus, vocabulary, cached co-occurrences, trainer."""

from __future__ import annotations

from typing import Any

import torch

from d2l_lab.embeddings.cooccurrence import cooccurrence_cache_key, cooccurrences
from d2l_lab.embeddings.glove import GloveTrainer
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.experiments.embedding_task import EmbeddingTask, prepare_corpus
from d2l_lab.experiments.glove.config import GloveRunConfig


class _NamedGloveTrainer:
    """GloVe's trainer with its vectors named by the vocabulary, as `EmbeddingTask` expects."""

    def __init__(self, trainer: GloveTrainer, words: list[str], corpus_tokens: int):
        self.trainer, self.words, self.corpus_tokens = trainer, words, corpus_tokens

    def train_epoch(self, epoch: int, on_batch: Any = None) -> dict[str, Any]:
        metrics = self.trainer.train_epoch(epoch, on_batch)
        # Raw corpus words per second of training, comparable with word2vec's.
        return {**metrics, "lr": self.trainer.cfg.lr, "raw_words_per_s": self.corpus_tokens / metrics["seconds"]}

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)

    def word_vectors(self) -> WordVectors:
        return WordVectors(self.words, self.trainer.vectors())


def build_task(config: GloveRunConfig, device: torch.device) -> EmbeddingTask:
    cfg = config.glove
    vocab, ids, offsets, checksum = prepare_corpus(config.corpus, cfg.min_count)
    key = cooccurrence_cache_key(checksum, vocab.words, vocab.counts, cfg.window)
    counts = cooccurrences(ids, offsets, len(vocab), cfg.window, cache_key=key)
    trainer = GloveTrainer(counts, len(vocab), cfg, config.seed, device)
    return EmbeddingTask(_NamedGloveTrainer(trainer, vocab.words, int(vocab.counts.sum())), vocab, cfg.epochs, cfg.probe_words, checksum,
                         label=f"GloVe, dim {cfg.dim}, window {cfg.window}")
