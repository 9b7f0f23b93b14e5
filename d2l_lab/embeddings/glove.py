"""GloVe (Pennington et al., 2014; d2l.ai section "Word Embedding with Global Vectors").

Fits v_i . u_j + b_i + c_j ~ log x_ij on the non-zero co-occurrences, minimising the book's and
the paper's loss  sum_ij h(x_ij) (v_i . u_j + b_i + c_j - log x_ij)^2  (no factor 1/2; the GloVe
tool halves it, which only rescales its gradients by a constant). Entries are shuffled each epoch
and taken in large batches; each batch gathers the rows it touches, computes their gradients by
hand and scatters AdaGrad steps into those rows only, so a step costs O(batch x dim), not
O(V x dim).

AdaGrad is the GloVe tool's variant: each accumulator starts at 1 and adds (lr * g)^2, and a step
is lr * g / sqrt(accumulator). A coordinate therefore takes plain SGD steps lr * g until its
gradients add up. Textbook AdaGrad (accumulators at 0) instead moves every touched
coordinate by a full +-lr on its first step, in a direction set by the random initial vectors.
On PTB the two reach about the same quality on average, but textbook AdaGrad's depends much
more on the seed (README).

Each table row stores a word's vector with its bias as the last column: one gather and one
scatter per side instead of two. A word's final vector is v_i + u_i, as in the paper.

Parts of an epoch. A run trains an epoch as `parts_per_epoch` parts (`train_part`), one run-loop
step each: consecutive slices of the epoch's shuffled entries, PART_ENTRIES entries (whole
batches) each, a fraction of a second apiece, so a progress display moves within an epoch and
Ctrl-C stops within about a second. The cut changes nothing that is computed: the epoch's order
is drawn when its first part starts (and again, identically, from its seed after a resume in
mid-epoch) and the batches and loss sums run in the same order as in one pass. `state_dict` holds
the position and the epoch's running sums, so a resume between any two parts repeats the
uninterrupted run bit for bit.

With `workers` > 1 an epoch is one part, its batches trained by worker processes over shared
tables without locks (`embeddings.hogwild`, as word2vec's), and the vectors vary from run to run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from d2l_lab.devices import use_cpu_cores
from d2l_lab.embeddings.cooccurrence import Cooccurrences
from d2l_lab.embeddings.parts import TrainsInParts, report_due
from d2l_lab.embeddings.vectors import WordVectors

if TYPE_CHECKING:
    from d2l_lab.experiments.glove import GloveConfig

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


class GloveTrainer(TrainsInParts):
    """Owns the tables, the AdaGrad accumulators and the shuffled passes over the co-occurrences.

    The initial tables come from a generator seeded by `seed` and the order of epoch e from one
    seeded by (`seed`, e), so training after `load_state_dict` of a state saved between any two
    parts repeats an uninterrupted run exactly (bit for bit on CPU).
    """

    def __init__(self, cooc: Cooccurrences, words: Sequence[str], cfg: GloveConfig, seed: int,
                 device: torch.device) -> None:
        vocab_size = len(words)
        if cooc.vocab_size != vocab_size:
            raise ValueError(f"co-occurrences are for {cooc.vocab_size} words, not {vocab_size}")
        use_cpu_cores("glove", cfg.threads, cfg.workers, device)
        self.cfg, self.seed, self.device, self.vocab_size = cfg, seed, device, vocab_size
        self.words = list(words)
        self.batches = math.ceil(len(cooc.rows) / cfg.batch_size)
        # Workers train a whole epoch at once (a part each would fork them at every part).
        self.batches_per_part = self.batches if cfg.workers > 1 else max(1, PART_ENTRIES // cfg.batch_size)
        self.parts_per_epoch = max(1, math.ceil(self.batches / self.batches_per_part))
        self.epochs_done = 0
        self.parts_done = 0
        """Parts done of the epoch in progress (0 between epochs)."""
        self._sums = _EpochSums()
        self._order: tuple[int, tuple[torch.Tensor, ...]] | None = None
        """(epoch, its shuffled rows, cols, log_x and weights), kept from the epoch's first part to its last."""
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
        self.center_sq = torch.ones(shape, device=device)
        self.context_sq = torch.ones(shape, device=device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array.astype(np.float32)).to(self.device)

    @property
    def entries(self) -> int:
        return int(self.rows.numel())

    def train_part(self, epoch: int, part: int, on_batch: Callable[[float, float], None] | None = None
                   ) -> dict[str, Any]:
        """Train part `part` of epoch `epoch` (both 0-based; must be the next part) of one shuffled
        pass over all x_ij > 0, and return the epoch's metrics so far: `loss` (mean per entry of
        the batches done, accumulated while the tables move, as SGD trainers report it), `lr`,
        `entries`, `seconds` and `position` (epochs done, as a fraction). After the epoch's last
        part they are the epoch's.

        `on_batch(position, mean_loss_since_last_call)` is called when `report_due` (about every
        REPORT_EVERY batches of the epoch, and after its last), `position` being the run's
        position in epochs.
        """
        if (epoch, part) != (self.epochs_done, self.parts_done):
            raise ValueError(f"part {part} of epoch {epoch} requested but {self.epochs_done} epochs and "
                             f"{self.parts_done} parts are done; parts must run in order for the seeds to match")
        started = time.perf_counter()
        if part == 0:
            self._sums = _EpochSums()
        sums = self._sums
        if self._order is None or self._order[0] != epoch:  # the epoch's first part, or a resume
            order = torch.from_numpy(np.random.default_rng([self.seed, _EPOCH_STREAM, epoch])
                                     .permutation(self.entries)).to(self.device)
            self._order = (epoch, tuple(t.index_select(0, order) for t in
                                        (self.rows, self.cols, self.log_x, self.weight)))
        rows, cols, log_x, weight = self._order[1]
        size = self.cfg.batch_size
        first, stop = part * self.batches_per_part, min((part + 1) * self.batches_per_part, self.batches)

        def step(b: int) -> tuple[float, int]:
            batch = slice(b * size, (b + 1) * size)
            return self._step(rows[batch], cols[batch], log_x[batch], weight[batch]), rows[batch].numel()

        # With workers the part (the whole epoch) is trained first and its batches' losses reported after.
        losses = self._train_in_workers(step, first, stop) if self.cfg.workers > 1 else None
        for b in range(first, stop):
            batch = slice(b * size, (b + 1) * size)
            loss = step(b)[0] if losses is None else float(losses[b - first])
            sums.total += loss
            sums.recent += loss
            sums.recent_entries += rows[batch].numel()
            sums.entries += rows[batch].numel()
            if on_batch is not None and report_due(b + 1, self.batches - b - 1):
                on_batch(epoch + (b + 1) / self.batches, sums.recent / sums.recent_entries)
                sums.recent, sums.recent_entries = 0.0, 0
        self.parts_done += 1
        if self.parts_done == self.parts_per_epoch:
            self.epochs_done, self.parts_done, self._order = self.epochs_done + 1, 0, None
        sums.seconds += time.perf_counter() - started
        return {"loss": sums.total / max(sums.entries, 1), "lr": self.cfg.lr, "entries": sums.entries,
                "seconds": sums.seconds, "position": epoch + (stop / self.batches if self.batches else 1.0)}

    def _train_in_workers(self, step: Callable[[int], tuple[float, int]], first: int, stop: int) -> torch.Tensor:
        """Batches first..stop-1 trained by `cfg.workers` processes (`embeddings.hogwild`); their losses."""
        from d2l_lab.embeddings.hogwild import train_batches

        tables = (self.center, self.context, self.center_sq, self.context_sq)
        return train_batches(lambda unit: step(first + unit), stop - first, self.cfg.workers, tables)

    def _step(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor, weight: torch.Tensor) -> float:
        """One AdaGrad step on a batch of entries; returns its summed loss."""
        loss, grad_center, grad_context = glove_gradients(
            self.center.index_select(0, rows), self.context.index_select(0, cols), log_x, weight)
        _adagrad_rows(self.center, self.center_sq, rows, grad_center, self.cfg.lr)
        _adagrad_rows(self.context, self.context_sq, cols, grad_context, self.cfg.lr)
        return float(loss)

    def vectors(self) -> np.ndarray:
        """Final word vectors [V, dim] float32: v_i + u_i (the paper's choice, better than either)."""
        return (self.center[:, :-1] + self.context[:, :-1]).cpu().numpy().astype(np.float32)

    def word_vectors(self) -> WordVectors:
        return WordVectors(self.words, self.vectors())

    def state_dict(self) -> dict[str, Any]:
        """Tables, accumulators, the position (epochs and parts done) and the epoch's running
        sums: all a resume between two parts needs (the epoch's order is drawn again from its seed).

        Plain tensors, ints and floats only, so it loads with `torch.load(..., weights_only=True)`.
        """
        return {"center": self.center.cpu().clone(), "context": self.context.cpu().clone(),
                "center_sq": self.center_sq.cpu().clone(), "context_sq": self.context_sq.cpu().clone(),
                "epochs_done": self.epochs_done, "parts_done": self.parts_done, "parts_per_epoch": self.parts_per_epoch,
                "epoch_sums": dataclasses.asdict(self._sums) if self.parts_done else {},  # no clock reading at epoch ends
                "vocab_size": self.vocab_size, "dim": self.cfg.dim}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = {"vocab_size": self.vocab_size, "dim": self.cfg.dim}
        found = {key: state.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"GloVe state is for {found}, this trainer has {expected}")
        parts_done = int(state.get("parts_done", 0))  # 0 in checkpoints from before epochs had parts
        if parts_done and state.get("parts_per_epoch") != self.parts_per_epoch:
            raise ValueError(f"GloVe state is {parts_done} parts into an epoch of {state.get('parts_per_epoch')} "
                             f"parts, this trainer has {self.parts_per_epoch} parts per epoch")
        for name in ("center", "context", "center_sq", "context_sq"):
            getattr(self, name).copy_(state[name])
        self.epochs_done, self.parts_done, self._order = int(state["epochs_done"]), parts_done, None
        self._sums = _EpochSums(**state.get("epoch_sums", {}))


@dataclasses.dataclass
class _EpochSums:
    """What the epoch in progress has added up so far; a mid-epoch checkpoint saves it, so that
    a resumed epoch reports the same loss as an uninterrupted one."""

    total: float = 0.0
    """Summed loss of the batches done."""
    recent: float = 0.0
    """Summed loss since the last `on_batch` call."""
    recent_entries: int = 0
    entries: int = 0
    """Entries in the batches done."""
    seconds: float = 0.0
    """Time spent in `train_part` on this epoch."""


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
