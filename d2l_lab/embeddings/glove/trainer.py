"""GloVe (Pennington et al., 2014; d2l.ai section "Word Embedding with Global Vectors").

Fits v_i . u_j + b_i + c_j ~ log x_ij on the non-zero co-occurrences, minimising the book's and
the paper's loss  sum_ij h(x_ij) (v_i . u_j + b_i + c_j - log x_ij)^2  (no factor 1/2; the GloVe
tool halves it, which only rescales its gradients by a constant). Entries are shuffled each epoch
and taken in large batches; each batch gathers the rows it touches, computes their gradients by
hand and scatters AdaGrad steps into those rows only, so a step costs O(batch x dim), not
O(V x dim). The entries are read from disk (`cooccurrence_file`) a block at a time and shuffled
in chunks of at most `block_entries` (`shuffle`), so memory follows the block size, not the
corpus's distinct pairs.

AdaGrad is the GloVe tool's variant: each accumulator starts at 1 and adds (lr * g)^2, and a step
is lr * g / sqrt(accumulator). A coordinate therefore takes plain SGD steps lr * g until its
gradients add up. Textbook AdaGrad (accumulators at 0) instead moves every touched
coordinate by a full +-lr on its first step, in a direction set by the random initial vectors.
On PTB the two reach about the same quality on average, but textbook AdaGrad's depends much
more on the seed (docs/design.md).

Each table row stores a word's vector with its bias as the last column: one gather and one
scatter per side instead of two. A word's final vector is v_i + u_i, as in the paper.

Epochs run on the engine every embedding trainer shares (`embeddings.epochs`): an epoch is its
shuffled entries, one chunk when they fit in a block (PTB), each chunk cut into parts of about PART_ENTRIES entries (whole batches), one
run-loop step each; resume, running sums, curve points and Hogwild workers (`workers` > 1: an
epoch is one part, and the vectors vary from run to run) are the engine's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from d2l_lab.devices import to_numpy, use_cpu_cores
from d2l_lab.embeddings.cooccurrence_file import Entries, EntriesFile
from d2l_lab.embeddings.epochs import EpochTrainer, LearningRate, parts_of
from d2l_lab.embeddings.glove.config import GloveConfig
from d2l_lab.embeddings.glove.shuffle import ShuffledEpochs
from d2l_lab.embeddings.vectors import WordVectors

PART_ENTRIES = 150_000
"""Co-occurrence entries per part of an epoch (one run-loop step), rounded down to whole batches
(at least one): about 0.1 s on one core at dim 100, so Ctrl-C waits well under a second."""
_INIT_STREAM, _EPOCH_STREAM = 0, 1  # separate random streams of one seed


def weighting(x: np.ndarray | torch.Tensor, x_max: float, alpha: float) -> np.ndarray | torch.Tensor:
    """h(x) = min((x / x_max)^alpha, 1): rare pairs count less, frequent ones are capped.

    Rare co-occurrences are noisy and their log x very negative; without the cap a few pairs
    such as ("the", "of") would dominate the loss.
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

    With r the residual: d/dv_i = 2 h r u_j, d/du_j = 2 h r v_i, d/db_i = d/dc_j = 2 h r.
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


@dataclass
class ShuffledEntries:
    """A chunk's entries in its random order: rows, cols, log x and weights."""

    rows: torch.Tensor
    cols: torch.Tensor
    log_x: torch.Tensor
    weight: torch.Tensor
    batches: int
    counts: dict[str, int]


class GloveTrainer(EpochTrainer):
    """Owns the tables, the AdaGrad accumulators and the shuffled passes over the co-occurrences.

    The initial tables come from a generator seeded by `seed` and the order of epoch e from ones
    seeded by (`seed`, e) (`shuffle.ShuffledEpochs`), so training after `load_state_dict` of a state saved between any two
    parts repeats an uninterrupted run exactly (bit for bit on CPU).
    """

    def __init__(self, entries: Entries, words: Sequence[str], cfg: GloveConfig, seed: int,
                 device: torch.device) -> None:
        vocab_size = len(words)
        if entries.vocab_size != vocab_size:
            raise ValueError(f"co-occurrences are for {entries.vocab_size} words, not {vocab_size}")
        use_cpu_cores("glove", cfg.threads, cfg.workers, device)
        self.cfg, self.seed, self.vocab_size = cfg, seed, vocab_size
        self.words = list(words)
        scratch = entries.path.parent if isinstance(entries, EntriesFile) else None
        self.order = ShuffledEpochs(entries, cfg.block_entries, seed, _EPOCH_STREAM, scratch)
        # Chunks placed in the run by their batches; workers train a whole chunk at once (a part
        # each would fork them at every part).
        chunks, batches = [], 0
        for size in self.order.sizes:
            chunks.append((batches, batches + math.ceil(size / cfg.batch_size)))
            batches = chunks[-1][1]
        part_batches = None if cfg.workers > 1 else max(1, PART_ENTRIES // cfg.batch_size)
        self.plan_epochs(chunks, batches, parts_of(chunks, part_batches), LearningRate(cfg.lr, cfg.epochs),
                         cfg.workers, device, counts=("entries",))
        # The GloVe tool's init: uniform in [-0.5, 0.5] / dim, biases included.
        rng = np.random.default_rng([seed, _INIT_STREAM])
        shape = (vocab_size, cfg.dim + 1)
        self.center = self._tensor((rng.random(shape) - 0.5) / cfg.dim)
        self.context = self._tensor((rng.random(shape) - 0.5) / cfg.dim)
        self.center_sq = torch.ones(shape, device=device)
        self.context_sq = torch.ones(shape, device=device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array.astype(np.float32)).to(self.device)

    @property
    def entries(self) -> int:
        return self.order.entries.nnz

    def draw_chunk(self, epoch: int, index: int) -> ShuffledEntries:
        """Chunk `index` of epoch `epoch`'s pass over all x_ij > 0, in its random order."""
        records = self.order.chunk(epoch, index)
        values = np.ascontiguousarray(records["value"])
        log_x, weight = np.log(values).astype(np.float32), weighting(values, self.cfg.x_max, self.cfg.alpha)
        tensors = (torch.from_numpy(records["row"].astype(np.int64)), torch.from_numpy(records["col"].astype(np.int64)),
                   torch.from_numpy(log_x), torch.from_numpy(weight.astype(np.float32)))
        lo, hi = self.chunks[index]
        return ShuffledEntries(*(t.to(self.device) for t in tensors), batches=hi - lo, counts={"entries": records.size})

    def step(self, chunk: ShuffledEntries, batch: int, lr: float, part: int = 0, parts: int = 1
             ) -> tuple[torch.Tensor, int]:
        """One AdaGrad step on a batch of entries; returns (summed loss, entries)."""
        size = self.cfg.batch_size
        entries = slice(batch * size, (batch + 1) * size)
        rows, cols = chunk.rows[entries], chunk.cols[entries]
        loss, grad_center, grad_context = glove_gradients(
            self.center.index_select(0, rows), self.context.index_select(0, cols), chunk.log_x[entries],
            chunk.weight[entries])
        _adagrad_rows(self.center, self.center_sq, rows, grad_center, lr)
        _adagrad_rows(self.context, self.context_sq, cols, grad_context, lr)
        return loss, rows.numel()

    def shared_tables(self) -> list[torch.Tensor]:
        return [self.center, self.context, self.center_sq, self.context_sq]

    def vectors(self) -> np.ndarray:
        """Final word vectors [V, dim] float32: v_i + u_i (the paper's choice, better than either)."""
        return to_numpy(self.center[:, :-1] + self.context[:, :-1]).astype(np.float32)

    def word_vectors(self) -> WordVectors:
        return WordVectors(self.words, self.vectors())

    def state_dict(self) -> dict[str, Any]:
        """Tables, accumulators, the position (epochs and parts done) and the epoch's running
        sums: all a resume between two parts needs (the epoch's order is drawn again from its seed).

        Plain tensors, ints and floats only, so it loads with `torch.load(..., weights_only=True)`.
        """
        return {"center": self.center.cpu().clone(), "context": self.context.cpu().clone(),
                "center_sq": self.center_sq.cpu().clone(), "context_sq": self.context_sq.cpu().clone(),
                **self.position_state(), "vocab_size": self.vocab_size, "dim": self.cfg.dim}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = {"vocab_size": self.vocab_size, "dim": self.cfg.dim}
        found = {key: state.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"GloVe state is for {found}, this trainer has {expected}")
        self.load_position(state, "GloVe")
        for name in ("center", "context", "center_sq", "context_sq"):
            getattr(self, name).copy_(state[name])


def _adagrad_rows(table: torch.Tensor, squares: torch.Tensor, index: torch.Tensor,
                  grads: torch.Tensor, lr: float) -> None:
    """The GloVe tool's AdaGrad on the rows named in `index` only.

    Repeated rows are summed first, as a dense gradient would; for those rows this equals
    `torch.optim.Adagrad(lr=1, initial_accumulator_value=1/lr**2, eps=0)`.
    """
    unique, inverse = torch.unique(index, return_inverse=True)
    step = torch.zeros(unique.numel(), table.shape[1], device=table.device).index_add_(0, inverse, grads)
    step.mul_(lr)
    accumulated = squares.index_select(0, unique).addcmul_(step, step)
    squares.index_copy_(0, unique, accumulated)
    table.index_add_(0, unique, step.div_(accumulated.sqrt_()).neg_())
