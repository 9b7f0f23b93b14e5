"""Build the run-loop task of a word2vec run: corpus, vocabulary, trainer."""

from __future__ import annotations

import torch

from d2l_lab.embeddings.word2vec import Word2VecTrainer
from d2l_lab.experiments.embedding_task import EmbeddingTask, build_vocab, load_sentences
from d2l_lab.experiments.word2vec.config import Word2VecRunConfig


def build_task(config: Word2VecRunConfig, device: torch.device) -> EmbeddingTask:
    cfg = config.word2vec
    sentences, checksum = load_sentences(config.corpus)
    vocab = build_vocab(sentences, cfg.min_count, config.corpus)
    ids, offsets = vocab.encode(sentences)
    trainer = Word2VecTrainer(ids, offsets, vocab, cfg, config.seed, device)
    return EmbeddingTask(trainer, vocab, cfg.epochs, cfg.probe_words, checksum,
                         label=f"{cfg.model}, dim {cfg.dim}, window {cfg.window}")
