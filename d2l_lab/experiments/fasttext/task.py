"""Build the run-loop task of a fastText run: corpus, vocabulary, trainer, and the subword
table saved beside `vectors.txt` so that queries can embed words the corpus never had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from d2l_lab.embeddings.fasttext import FastTextTrainer
from d2l_lab.embeddings.run_vectors import SUBWORDS_NAME
from d2l_lab.experiments.embedding_task import EmbeddingTask, prepare_corpus
from d2l_lab.experiments.fasttext.config import FastTextRunConfig


class FastTextTask(EmbeddingTask):
    trainer: FastTextTrainer

    def write_artifacts(self, run_dir: Path, rows: list[dict[str, Any]]) -> None:
        """Every embedding run's artefacts plus `subwords.npz`, written first: a run dir with
        `vectors.txt` then always embeds unseen words too."""
        self.trainer.subword_vectors().save(run_dir / SUBWORDS_NAME)
        super().write_artifacts(run_dir, rows)


def build_task(config: FastTextRunConfig, device: torch.device) -> FastTextTask:
    cfg = config.fasttext
    vocab, ids, offsets, checksum = prepare_corpus(config.corpus, cfg.min_count)
    trainer = FastTextTrainer(ids, offsets, vocab, cfg, config.seed, device)
    return FastTextTask(trainer, vocab, cfg.epochs, cfg.probe_words, checksum,
                        label=f"fastText {cfg.combine} of {cfg.min_n}-{cfg.max_n}-grams, dim {cfg.dim}")
