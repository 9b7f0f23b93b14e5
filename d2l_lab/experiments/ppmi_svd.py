"""`d2l run ppmi-svd`: count-based word vectors, PPMI + truncated SVD (Levy, Goldberg & Dagan 2015).

From the co-occurrence counts GloVe fits (`embeddings.cooccurrence`: pairs up to `window` tokens
apart within a sentence, each adding 1/distance, as the GloVe tool counts; the same cache file):

    PPMI(w, c) = max(0, log P(w, c) / (P(w) P_alpha(c))),   P_alpha(c) = x_c^alpha / sum_c' x_c'^alpha

with P(w, c) = x_wc / sum x, P(w) = x_w / sum x (x_w, x_c the row and column sums) and alpha =
`smoothing` (0.75, the paper's context-distribution smoothing, which lowers the PMI of rare
contexts). Pairs never seen have PMI -inf, so PPMI is as sparse as the counts. The word vectors are
W = U S^p from the rank-`dim` truncated SVD PPMI ~ U S V^T, p = `eigenvalue_weight` (0.5: the
symmetric weighting the paper recommends; 1 is the plain SVD, 0 drops the singular values).

The SVD is randomized (`torch.svd_lowrank`, with power iterations) on the sparse matrix: no dense
V x V matrix is made. The whole factorisation is the run's one step; its "loss" is the share of
the PPMI matrix's squared norm that the rank-`dim` approximation leaves out. Importing this module
needs no torch or numpy (the CLI reads the config class for --help).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d2l_lab.config.schema import param
from d2l_lab.embeddings.settings import probe_words_param
from d2l_lab.errors import UserError
from d2l_lab.experiments.corpus_config import CorpusRunConfig

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

POWER_ITERATIONS = 8
"""Subspace iterations of the randomized SVD: PPMI's singular values decay slowly, so torch's
default of 2 leaves the top singular vectors noticeably unsettled."""
OVERSAMPLING = 10
"""Extra random directions beyond `dim`, the usual margin that makes the top `dim` accurate."""


@dataclass(frozen=True)
class PPMISVDConfig:
    dim: int = param(100, "vector size: the rank of the truncated SVD, as word2vec's dim", ge=1)
    window: int = param(10, "co-occurrences are counted up to this many tokens either side, "
                        "weighted 1/distance, as for GloVe; with GloVe's window the cached counts "
                        "are shared", ge=1)
    min_count: int = param(5, "words seen fewer times are dropped before counting (as word2vec "
                           "and GloVe)", ge=1)
    smoothing: float = param(0.75, "alpha of the context distribution P_alpha(c) ~ count(c)^alpha: "
                             "below 1 it raises rare contexts' probability and so lowers their "
                             "inflated PMI (the paper's 0.75, word2vec's noise exponent)", gt=0, le=1)
    eigenvalue_weight: float = param(0.5, "p in W = U S^p: 0.5 is the symmetric weighting the paper "
                                     "recommends, 1 the plain SVD", ge=0, le=1)
    probe_words: tuple[str, ...] = probe_words_param()


@dataclass(frozen=True)
class PPMISVDRunConfig(CorpusRunConfig):
    seed: int = param(0, "seeds the random directions of the randomized SVD", ge=0, lt=2**32)
    ppmi_svd: PPMISVDConfig = param(PPMISVDConfig(), "counting, PMI and factorisation settings")


def ppmi(rows: Any, cols: Any, counts: Any, vocab_size: int, smoothing: float) -> Any:
    """PPMI of the non-zero counts x[rows, cols] (numpy arrays): the values, aligned with them."""
    import numpy as np

    total = counts.sum()
    p_word = np.bincount(rows, weights=counts, minlength=vocab_size) / total
    smoothed = np.bincount(cols, weights=counts, minlength=vocab_size) ** smoothing
    p_context = smoothed / smoothed.sum()
    pmi = np.log(counts / total) - np.log(p_word[rows]) - np.log(p_context[cols])
    return np.maximum(pmi, 0.0)


def truncated_svd_vectors(matrix: Any, dim: int, eigenvalue_weight: float, seed: int) -> tuple[Any, float]:
    """W = U S^p of the rank-`dim` randomized SVD of a sparse torch matrix, and the share of its
    squared Frobenius norm that the approximation leaves out."""
    import torch

    with torch.random.fork_rng(devices=[]):  # svd_lowrank draws from the global generator
        torch.manual_seed(seed)
        u, s, _ = torch.svd_lowrank(matrix, q=min(dim + OVERSAMPLING, *matrix.shape), niter=POWER_ITERATIONS)
    u, s = u[:, :dim], s[:dim]
    norm_sq = matrix.coalesce().values().double().square().sum()
    left_out = float(1.0 - s.double().square().sum() / norm_sq) if norm_sq > 0 else 0.0
    return u * s ** eigenvalue_weight, left_out


class PPMISVD:
    """The factorisation as an embedding trainer with a single epoch of one part (the SVD cannot
    stop half way)."""

    parts_per_epoch = 1

    def __init__(self, counts: Any, words: Sequence[str], cfg: PPMISVDConfig, seed: int, device: Any) -> None:
        import torch

        if cfg.dim > len(words):
            raise UserError(f"'ppmi_svd.dim' ({cfg.dim}) is more than the {len(words)} words of the vocabulary, "
                            "the most dimensions an SVD of their counts has: lower --dim")
        self.counts, self.words, self.cfg, self.seed, self.device = counts, list(words), cfg, seed, device
        self.vectors = torch.zeros(0, cfg.dim)
        self.epochs_done = 0

    def train_part(self, epoch: int, part: int, on_batch: Callable[[float, float], None] | None = None
                   ) -> dict[str, Any]:
        import numpy as np
        import torch

        if (epoch, part) != (self.epochs_done, 0):
            raise ValueError(f"part {part} of epoch {epoch} requested but {self.epochs_done} epochs are done")
        started = time.perf_counter()
        c, size = self.counts, len(self.words)
        values = ppmi(c.rows, c.cols, c.values, size, self.cfg.smoothing)
        kept = values > 0
        index = torch.from_numpy(np.stack([c.rows[kept], c.cols[kept]]))
        matrix = torch.sparse_coo_tensor(index, torch.from_numpy(values[kept].astype(np.float32)), (size, size),
                                         is_coalesced=True, check_invariants=True).to(self.device)
        vectors, left_out = truncated_svd_vectors(matrix, self.cfg.dim, self.cfg.eigenvalue_weight, self.seed)
        self.vectors = vectors.cpu()
        self.epochs_done += 1
        return {"loss": left_out, "seconds": time.perf_counter() - started, "position": float(self.epochs_done)}

    def state_dict(self) -> dict[str, Any]:
        return {"vectors": self.vectors.clone(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.vectors = state["vectors"].clone()
        self.epochs_done = int(state["epochs_done"])

    def word_vectors(self) -> Any:
        from d2l_lab.devices import to_numpy
        from d2l_lab.embeddings.vectors import WordVectors

        return WordVectors(self.words, to_numpy(self.vectors).astype("float32"))


def build_task(config: PPMISVDRunConfig, device: Any, progress: Progress | None = None) -> Any:
    from d2l_lab.experiments.embedding_task import EmbeddingTask, read_corpus

    cfg = config.ppmi_svd
    corpus = read_corpus(config.corpus, cfg.min_count, progress=progress)
    trainer = PPMISVD(corpus.cooccurrences(cfg.window), corpus.vocab.words, cfg, config.seed, device)
    return EmbeddingTask(trainer, corpus, 1, cfg.probe_words, f"PPMI + SVD, dim {cfg.dim}, window {cfg.window}",
                         scoring=config)
