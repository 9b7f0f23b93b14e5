"""Build the run-loop task of a word2vec run: corpus, vocabulary, trainer."""

from __future__ import annotations

import torch

from d2l_lab.embeddings.word2vec import Word2VecTrainer
from d2l_lab.experiments.embedding_task import EmbeddingTask, prepare_corpus
from d2l_lab.experiments.word2vec.config import Word2VecRunConfig


def build_task(config: Word2VecRunConfig, device: torch.device) -> EmbeddingTask:
    cfg = config.word2vec
    vocab, ids, offsets, checksum = prepare_corpus(config.corpus, cfg.min_count)
    trainer = Word2VecTrainer(ids, offsets, vocab, cfg, config.seed, device)
    return EmbeddingTask(trainer, vocab, cfg.epochs, cfg.probe_words, checksum,
                         label=f"{cfg.model}, dim {cfg.dim}, window {cfg.window}")
