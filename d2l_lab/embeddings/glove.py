"""GloVe (Pennington et al., 2014; d2l.ai section "Word Embedding with Global Vectors").

Fits v_i . u_j + b_i + c_j ~ log x_ij on the non-zero co-occurrences, minimising the book's and
the paper's loss  sum_ij h(x_ij) (v_i . u_j + b_i + c_j - log x_ij)^2  (no factor 1/2: the GloVe
tool's halved cost differs only by that constant). Entries are shuffled each epoch and taken in
large batches; each batch gathers the rows it touches, computes their gradients by hand and
scatters AdaGrad steps into those rows only, so a step costs O(batch x dim), not O(V x dim).

Each table row stores a word's vector with its bias as the last column: one gather and one
scatter per side instead of two. A word's final vector is v_i + u_i, as in the paper.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from d2l_lab.config.schema import param
from d2l_lab.embeddings.cooccurrence import Cooccurrences

OPTIMIZERS = ("adagrad",)
ADAGRAD_EPS = 1e-8
"""Keeps a step finite for a coordinate whose every gradient so far was exactly zero."""
REPORT_EVERY = 50
"""Batches between `on_batch` calls: progress a person can read, not a callback per batch."""
TOOL = bool(int(os.environ.get("TOOL", "0")))
ACC0 = 1.0 if TOOL else 0.0
_INIT_STREAM, _EPOCH_STREAM = 0x61C0, 0xE90C  # distinct seed streams for init and for epochs


@dataclass(frozen=True)
class GloveConfig:
    dim: int = param(100, "vector size; 100 is the book's and a common size for a small corpus", ge=1)
    window: int = param(10, "co-occurrences counted up to this many tokens either side, weighted "
                        "1/distance; 10 is the GloVe tool's default", ge=1)
    min_count: int = param(5, "words seen fewer times are dropped before counting: their few "
                           "co-occurrences are too noisy to place them (the GloVe tool's default)", ge=1)
    x_max: float = param(100.0, "counts at or above this get full weight h(x)=1, rarer ones less; "
                         "100 is the paper's choice", gt=0)
    alpha: float = param(0.75, "exponent of the weighting h(x)=(x/x_max)^alpha; the paper found "
                         "0.75 better than 1", gt=0, le=1)
    epochs: int = param(25, "passes over the non-zero co-occurrences; rho on PTB stops improving "
                        "after about 25 (about 1 s each on 2 cores)", ge=1)
    batch_size: int = param(16384, "non-zero entries per update; large batches keep the per-step "
                            "overhead small and still give ~180 updates per PTB epoch", ge=1)
    lr: float = param(0.05, "AdaGrad learning rate; 0.05 is the GloVe tool's", gt=0)
    optimizer: str = param("adagrad", "AdaGrad on the touched rows only, as the paper and the "
                           "GloVe tool", choices=OPTIMIZERS)
    probe_words: tuple[str, ...] = param(
        ("chip", "intel", "baby", "beautiful", "computer", "money"),
        "words whose nearest neighbours are shown after training (the book's examples plus "
        "frequent PTB words)")


def weighting(x: np.ndarray | torch.Tensor, x_max: float, alpha: float) -> np.ndarray | torch.Tensor:
    """h(x) = min((x / x_max)^alpha, 1): rare pairs count less, frequent ones are capped.

    Rare co-occurrences are noisy and log x is very negative for them; without the cap a few
    pairs like ("the", ",") would dominate the loss.
    """
    if isinstance(x, torch.Tensor):
        return torch.clamp(x / x_max, max=1.0) ** alpha
    return np.minimum(np.asarray(x) / x_max, 1.0) ** alpha


def glove_loss(center: torch.Tensor, context: torch.Tensor, log_x: torch.Tensor,
               weight: torch.Tensor) -> torch.Tensor:
    """sum h (v.u + b + c - log x)^2 for gathered rows [B, dim+1] (bias last); autograd-ready."""
    return (weight * _residual(center, context, log_x) ** 2).sum()


def glove_gradients(center: torch.Tensor, context: torch.Tensor, log_x: torch.Tensor,
                    weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss and its gradients w.r.t. the gathered rows, by hand (no autograd graph).

    d/dv_i = 2 h r u_j, d/du_j = 2 h r v_i, d/db_i = d/dc_j = 2 h r, with r the residual.
    """
    residual = _residual(center, context, log_x)
    scaled = weight * residual
    loss = (scaled * residual).sum()
    g = (2.0 * scaled).unsqueeze(1)
    ones = torch.ones_like(g)
    grad_center = g * torch.cat([context[:, :-1], ones], dim=1)
    grad_context = g * torch.cat([center[:, :-1], ones], dim=1)
    return loss, grad_center, grad_context


def _residual(center: torch.Tensor, context: torch.Tensor, log_x: torch.Tensor) -> torch.Tensor:
    dot = (center[:, :-1] * context[:, :-1]).sum(dim=1)
    return dot + center[:, -1] + context[:, -1] - log_x


def set_cpu_threads() -> None:
    """One torch thread per core this process may use (the default can be fewer, or too many)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))


class GloveTrainer:
    """Owns the tables, the AdaGrad accumulators and the shuffled pass over the co-occurrences.

    Randomness comes only from generators seeded by `seed` (initial tables) and by
    (`seed`, `epoch`) (the epoch's order), so an epoch replays identically after a resume.
    """

    def __init__(self, cooc: Cooccurrences, vocab_size: int, cfg: GloveConfig, seed: int,
                 device: torch.device) -> None:
        if cooc.vocab_size != vocab_size:
            raise ValueError(f"co-occurrences are for {cooc.vocab_size} words, not {vocab_size}")
        if device.type == "cpu":
            set_cpu_threads()
        self.cfg, self.seed, self.device, self.vocab_size = cfg, seed, device, vocab_size
        self.rows = torch.from_numpy(cooc.rows).to(device)
        self.cols = torch.from_numpy(cooc.cols).to(device)
        self.log_x = torch.from_numpy(np.log(cooc.values).astype(np.float32)).to(device)
        self.weight = torch.from_numpy(
            weighting(cooc.values, cfg.x_max, cfg.alpha).astype(np.float32)).to(device)
        # The GloVe tool's init: uniform in [-0.5, 0.5] / dim, biases included.
        rng = np.random.default_rng([seed, _INIT_STREAM])
        shape = (vocab_size, cfg.dim + 1)
        self.center = self._tensor((rng.random(shape) - 0.5) / cfg.dim)
        self.context = self._tensor((rng.random(shape) - 0.5) / cfg.dim)
        self.center_sq = torch.full(shape, ACC0, device=device)
        self.context_sq = torch.full(shape, ACC0, device=device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array.astype(np.float32)).to(self.device)

    @property
    def entries(self) -> int:
        return int(self.rows.numel())

    def train_epoch(self, epoch: int, on_batch: Callable[[int, float], None] | None = None) -> dict[str, Any]:
        """One shuffled pass over all non-zero x_ij; returns the mean per-entry loss and speed.

        `on_batch(batches_done, mean_loss_since_last_call)` is called every REPORT_EVERY batches.
        The loss is accumulated while the tables move, as every SGD-style trainer reports it.
        """
        started = time.perf_counter()
        order = torch.from_numpy(np.random.default_rng([self.seed, _EPOCH_STREAM, epoch])
                                 .permutation(self.entries)).to(self.device)
        rows, cols, log_x, weight = (t.index_select(0, order) for t in
                                     (self.rows, self.cols, self.log_x, self.weight))
        total, recent, recent_entries = 0.0, 0.0, 0
        batches = math.ceil(self.entries / self.cfg.batch_size)
        for b in range(batches):
            part = slice(b * self.cfg.batch_size, (b + 1) * self.cfg.batch_size)
            loss = self._step(rows[part], cols[part], log_x[part], weight[part])
            total += loss
            recent += loss
            recent_entries += rows[part].numel()
            if on_batch is not None and ((b + 1) % REPORT_EVERY == 0 or b + 1 == batches):
                on_batch(b + 1, recent / recent_entries)
                recent, recent_entries = 0.0, 0
        seconds = time.perf_counter() - started
        return {"loss": total / max(self.entries, 1), "entries": self.entries,
                "entries_per_s": self.entries / seconds, "seconds": seconds}

    def _step(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor, weight: torch.Tensor) -> float:
        loss, grad_center, grad_context = glove_gradients(
            self.center.index_select(0, rows), self.context.index_select(0, cols), log_x, weight)
        _adagrad_rows(self.center, self.center_sq, rows, grad_center, self.cfg.lr)
        _adagrad_rows(self.context, self.context_sq, cols, grad_context, self.cfg.lr)
        return float(loss)

    def vectors(self) -> np.ndarray:
        """Final word vectors [V, dim] float32: v_i + u_i (the paper's choice, better than either)."""
        return (self.center[:, :-1] + self.context[:, :-1]).cpu().numpy().astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """Tables and accumulators (tensors) plus what they must match; enough to resume an epoch."""
        return {"center": self.center.cpu(), "context": self.context.cpu(),
                "center_sq": self.center_sq.cpu(), "context_sq": self.context_sq.cpu(),
                "vocab_size": self.vocab_size, "dim": self.cfg.dim, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = {"vocab_size": self.vocab_size, "dim": self.cfg.dim, "seed": self.seed}
        found = {key: state.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"GloVe state is for {found}, this trainer has {expected}")
        for name in ("center", "context", "center_sq", "context_sq"):
            getattr(self, name).copy_(state[name])


def _adagrad_rows(table: torch.Tensor, squares: torch.Tensor, index: torch.Tensor,
                  grads: torch.Tensor, lr: float) -> None:
    """AdaGrad on the rows named in `index` only (repeats summed first, as a dense gradient would)."""
    unique, inverse = torch.unique(index, return_inverse=True)
    grad = torch.zeros(unique.numel(), table.shape[1], device=table.device).index_add_(0, inverse, grads)
    if TOOL:
        grad = grad * lr
        lr = 1.0
    accumulated = squares.index_select(0, unique) + grad * grad
    squares.index_copy_(0, unique, accumulated)
    table.index_add_(0, unique, grad * (-lr) / (accumulated.sqrt() + ADAGRAD_EPS))
