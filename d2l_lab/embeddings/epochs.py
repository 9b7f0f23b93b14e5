"""The epoch engine of every embedding trainer (word2vec, fastText, GloVe): written once, used by all.

An epoch is a run of chunks (word2vec: ranges of corpus tokens; GloVe: the epoch's shuffled
entries, one chunk), each chunk a run of batches, and the run loop trains it in parts: one
run-loop step each, a fraction of a second, so a progress display moves within an epoch and
Ctrl-C stops within about a second. A trainer supplies what differs (`draw_chunk`: a chunk's
examples; `step`: one batch's update; `shared_tables`: what steps write to) and this class does
the rest: the parts, the learning rate over the whole run, the epoch's running sums, the points
of the loss curve, the position a checkpoint holds, and Hogwild workers.

The cut into parts changes nothing that is computed: a chunk's examples are drawn when its first
part starts (and drawn again, identically, from their seeds after a resume in mid-chunk), and
the batches, their learning rates and the loss sums run in the same order as in one pass.
`state_dict` holds the position (epochs and parts done) and the epoch's running sums, so a resume
between any two parts repeats the uninterrupted run bit for bit (one worker, CPU).

With `workers` > 1 a chunk is one part, its batches trained by worker processes over shared
tables without locks (`embeddings.hogwild`); each batch is then stepped in `slices` slices, one
worker's step each (`Word2VecTrainer` says why), and this process draws the next chunk meanwhile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

REPORT_EVERY = 50
"""Batches between `on_batch` calls: cheap enough for a progress bar, rare enough to be free."""


def report_due(batches_done: int, batches_left: int | None) -> bool:
    """Whether a training curve gets a point after this batch: every REPORT_EVERY batches of the
    epoch (`batches_done`) and after its last, but not a regular point that fewer than
    REPORT_EVERY / 2 batches would follow (`batches_left` in the epoch; None while unknown): the
    last point then covers them too. A point over a handful of batches is mostly noise, and the
    curve's centred smoothing leaves an epoch's last point as it is (seen on PTB: a last point over
    7 batches drew a spurious upturn at the end of every loss.png)."""
    if batches_left == 0:
        return True
    return batches_done % REPORT_EVERY == 0 and (batches_left is None or batches_left >= REPORT_EVERY // 2)


def part_batches(batches: int, part: int, parts: int) -> range:
    """The batches of part `part` of `parts` of a chunk: contiguous shares, the first ones
    rounded up, so that the first part of a chunk with any batch has one."""
    return range(-(-part * batches // parts), -(-(part + 1) * batches // parts))


@dataclass(frozen=True)
class LearningRate:
    """The step size over the whole run: constant, or the C tool's and gensim's linear decay to
    lr * min_ratio at the end of the last epoch."""

    lr: float
    epochs: int
    schedule: str = "constant"
    min_ratio: float = 0.0

    def at(self, progress: float) -> float:
        """The rate after `progress` epochs (fractional)."""
        if self.schedule == "constant":
            return self.lr
        return self.lr * max(1.0 - progress / self.epochs, self.min_ratio)


class Chunk(Protocol):
    """A chunk's examples as a trainer draws them."""

    batches: int
    counts: dict[str, int]
    """What the chunk holds (word2vec: pairs, tokens; GloVe: entries), summed over an epoch's chunks."""


@dataclass
class EpochSums:
    """What the epoch in progress has added up so far; a mid-epoch checkpoint saves it, so that
    a resumed epoch reports the same loss as an uninterrupted one."""

    total: torch.Tensor
    """Summed loss of the batches done (on the device: no sync per batch)."""
    recent: torch.Tensor
    """Summed loss since the last `on_batch` call."""
    recent_examples: int = 0
    batches: int = 0
    """Batches done."""
    examples: int = 0
    """Loss terms (pairs, CBOW centres, co-occurrence entries) in the batches done."""
    drawn_batches: int = 0
    """Batches of the chunks drawn so far."""
    counts: dict[str, int] = field(default_factory=dict)
    """The chunks' counts (`Chunk.counts`), summed over the chunks drawn so far."""
    lr: float = 0.0
    """The learning rate of the last batch done."""
    seconds: float = 0.0
    """Time spent in `train_part` on this epoch."""

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total.cpu().clone(), "recent": self.recent.cpu().clone(),
                "recent_examples": self.recent_examples, "batches": self.batches, "examples": self.examples,
                "drawn_batches": self.drawn_batches, **self.counts, "lr": self.lr, "seconds": self.seconds}


class EpochTrainer:
    """The engine; a trainer subclasses it, calls `plan_epochs` in its constructor and offers
    `draw_chunk(epoch, index)`, `step(chunk, batch, lr, slice, slices)`, `shared_tables()`."""

    def plan_epochs(self, chunks: list[tuple[int, int]], units: int, parts: list[int], rate: LearningRate,
                    workers: int, device: torch.device, counts: tuple[str, ...], slices: int = 1) -> None:
        """`chunks`: each chunk's [lo, hi) in `units` (word2vec: corpus tokens; GloVe: batches), which
        place a batch in the run (its learning rate, its curve point); `parts`: each chunk's parts;
        `counts`: the names of `Chunk.counts`; `slices`: the steps of a batch with workers."""
        self.chunks, self.units, self.rate, self.workers = chunks, max(units, 1), rate, workers
        self.device, self.count_names, self.slices = device, counts, slices
        self.parts = [(index, k, count) for index, count in enumerate(parts) for k in range(count)]
        """The parts of an epoch, in order, as (chunk index, part of the chunk, parts of the chunk)."""
        self.parts_per_epoch = len(self.parts)
        self.epochs_done = 0
        self.parts_done = 0
        """Parts done of the epoch in progress (0 between epochs)."""
        # Loss sums stay on the device (no sync per batch); MPS has no float64.
        self._sum_dtype = torch.float32 if device.type == "mps" else torch.float64
        self._sums = self._new_sums()
        self._current: tuple[tuple[int, int], Chunk] | None = None
        """The chunk being trained: (epoch, chunk index) and its examples."""
        self._drawn_ahead: tuple[tuple[int, int], Chunk] | None = None  # with workers > 1

    def draw_chunk(self, epoch: int, index: int) -> Chunk:
        raise NotImplementedError

    def step(self, chunk: Any, batch: int, lr: float, part: int = 0, parts: int = 1) -> tuple[torch.Tensor, int]:
        """One update on batch `batch` of `chunk`, or on its `part`-th of `parts` slices; returns
        (summed loss, loss terms)."""
        raise NotImplementedError

    def shared_tables(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def learning_rate(self, progress: float) -> float:
        """The step size after `progress` epochs of the run (fractional)."""
        return self.rate.at(progress)

    def zero_loss(self) -> torch.Tensor:
        """A loss of nothing, in the dtype of the sums."""
        return torch.zeros((), dtype=self._sum_dtype, device=self.device)

    @property
    def batches_this_epoch(self) -> int:
        """Batches of the epoch in progress (or last run) in the chunks drawn so far: all of
        them once the epoch ends, and before the first `on_batch` for a corpus of one chunk."""
        return self._sums.drawn_batches

    def train_epoch(self, epoch: int, on_batch: Callable[[float, float], None] | None = None) -> dict[str, Any]:
        """Train epoch `epoch` (0-based; must be the next one) in one go: all its parts, for code
        that has no use for the parts (benchmarks, tests). Returns the epoch's metrics."""
        for part in range(self.parts_per_epoch):
            metrics = self.train_part(epoch, part, on_batch)
        return metrics

    def train_part(self, epoch: int, part: int, on_batch: Callable[[float, float], None] | None = None
                   ) -> dict[str, Any]:
        """Train part `part` of epoch `epoch` (both 0-based; must be the next part) and return the
        epoch's metrics so far: `loss` (mean per loss term of the batches done), `lr` (the last
        batch's), `seconds`, the chunks' counts (of the chunks drawn), and `position` (epochs
        done, as a fraction, at the end of this part). After the epoch's last part they are the
        epoch's.

        `on_batch(position, mean_loss_since_last_call)` is called when `report_due` (about every
        REPORT_EVERY batches of the epoch, and after its last), `position` being the run's
        position in epochs at the end of that batch. The learning rate follows the position in
        the whole run: chunk [lo, hi) covers epoch + lo/N .. epoch + hi/N of it (N units).
        """
        if (epoch, part) != (self.epochs_done, self.parts_done):
            raise ValueError(f"part {part} of epoch {epoch} requested but {self.epochs_done} epochs and "
                             f"{self.parts_done} parts are done; parts must run in order for the schedule "
                             "and the seeds to match")
        started = time.perf_counter()
        if part == 0:
            self._sums = self._new_sums()
        sums = self._sums
        index, k, count = self.parts[part]
        lo, hi = self.chunks[index]
        if k == 0:
            chunk = self._next_chunk(epoch, index)
            sums.drawn_batches += chunk.batches
            for name, value in chunk.counts.items():
                sums.counts[name] += value
            self._current = ((epoch, index), chunk)
        elif self._current is None or self._current[0] != (epoch, index):  # resumed in mid-chunk
            self._current = ((epoch, index), self.draw_chunk(epoch, index))
        chunk = self._current[1]
        last_chunk = index + 1 == len(self.chunks)
        # lo / N = 0 and (hi - lo) / N = 1 for a single chunk: the rate of each batch is then
        # exactly that of the unchunked epoch.
        first, share = epoch + lo / self.units, (hi - lo) / self.units
        # With several workers the chunk (one part) is trained first and its batches' losses reported after.
        results = self._train_in_workers(chunk, epoch, index, first, share) if self.workers > 1 else None
        for b in part_batches(chunk.batches, k, count):
            lr = self.learning_rate(first + b / chunk.batches * share)
            loss, terms = self.step(chunk, b, lr) if results is None else (results[0][b], int(results[1][b]))
            sums.total += loss
            sums.recent += loss
            sums.recent_examples += terms
            sums.examples += terms
            sums.batches += 1
            sums.lr = lr
            if on_batch is not None and report_due(sums.batches, chunk.batches - b - 1 if last_chunk else None):
                on_batch(epoch + (lo + (hi - lo) * (b + 1) / chunk.batches) / self.units,
                         float(sums.recent) / max(sums.recent_examples, 1))
                sums.recent.zero_()
                sums.recent_examples = 0
        if k + 1 == count:
            self._current = None  # before the next chunk's examples are drawn
        self.parts_done += 1
        if self.parts_done == self.parts_per_epoch:
            self.epochs_done, self.parts_done = self.epochs_done + 1, 0
        sums.seconds += time.perf_counter() - started
        return {"loss": float(sums.total) / max(sums.examples, 1), **sums.counts, "lr": sums.lr,
                "seconds": sums.seconds, "position": epoch + (lo + (hi - lo) * (k + 1) / count) / self.units}

    def _new_sums(self) -> EpochSums:
        total = self.zero_loss()
        return EpochSums(total, torch.zeros_like(total), counts=dict.fromkeys(self.count_names, 0), lr=self.rate.lr)

    def _next_chunk(self, epoch: int, index: int) -> Chunk:
        """Chunk `index` of epoch `epoch`: the one drawn ahead while workers trained, if it is."""
        ahead, self._drawn_ahead = self._drawn_ahead, None
        if ahead is not None and ahead[0] == (epoch, index):
            return ahead[1]
        return self.draw_chunk(epoch, index)

    def _train_in_workers(self, chunk: Chunk, epoch: int, index: int, first: float, share: float
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Train the chunk's batches in `workers` processes (`embeddings.hogwild`), each batch at
        the learning rate of its position in the run, as the serial loop; returns each batch's
        (summed loss, loss terms). Meanwhile this process draws the next chunk (its examples
        depend on the seeds alone, not on the tables), so that drawing overlaps training instead
        of idling the other workers; at most two chunks' examples exist at once."""
        from d2l_lab.embeddings.hogwild import train_batches

        following = (epoch, index + 1) if index + 1 < len(self.chunks) else (epoch + 1, 0)

        def draw_ahead() -> None:
            if following[0] < self.rate.epochs:
                self._drawn_ahead = (following, self.draw_chunk(*following))

        slices = self.slices

        def step(unit: int) -> tuple[torch.Tensor, int]:
            b, part = divmod(unit, slices)
            return self.step(chunk, b, self.learning_rate(first + b / chunk.batches * share), part, slices)

        losses, terms = train_batches(step, chunk.batches * slices, self.workers, self.shared_tables(), draw_ahead)
        return losses.view(chunk.batches, slices).sum(1), terms.view(chunk.batches, slices).sum(1)

    def position_state(self) -> dict[str, Any]:
        """The position (epochs and parts done) and the epoch's running sums: with the tables, all
        a resume between two parts needs."""
        return {"epochs_done": self.epochs_done, "parts_done": self.parts_done, "parts_per_epoch": self.parts_per_epoch,
                # Only mid-epoch: an epoch starts from zero sums, and their `seconds` is a clock
                # reading, so that checkpoints at epoch ends are the same bytes run after run.
                "epoch_sums": self._sums.state_dict() if self.parts_done else {}}

    def load_position(self, state: dict[str, Any], name: str) -> None:
        """Continue from `position_state`'s `state`; ValueError if this trainer cuts its epochs
        otherwise (`name` says whose state it is)."""
        parts_done = int(state.get("parts_done", 0))  # 0 in checkpoints from before epochs had parts
        if parts_done and state.get("parts_per_epoch") != self.parts_per_epoch:
            raise ValueError(f"{name} state is {parts_done} parts into an epoch of {state.get('parts_per_epoch')} "
                             f"parts, this trainer has {self.parts_per_epoch} parts per epoch")
        self.epochs_done, self.parts_done = int(state["epochs_done"]), parts_done
        self._sums, self._current = self._new_sums(), None
        if state.get("epoch_sums"):
            saved = dict(state["epoch_sums"])
            expected = {"total", "recent", "recent_examples", "batches", "examples", "drawn_batches", "lr", "seconds",
                        *self.count_names}
            if set(saved) != expected:
                raise ValueError(f"{name} state holds the sums of an epoch in progress as another version of "
                                 f"d2l-lab kept them ({', '.join(sorted(saved))})")
            counts = {name: saved.pop(name) for name in self.count_names}
            self._sums = EpochSums(**{**saved, "total": saved["total"].to(self.device),
                                      "recent": saved["recent"].to(self.device)}, counts=counts)


def parts_of(chunks: list[tuple[int, int]], part_size: int | None) -> list[int]:
    """Each chunk's parts: one per `part_size` units (at least one), or one per chunk (None)."""
    return [1 if part_size is None else max(1, math.ceil((hi - lo) / part_size)) for lo, hi in chunks]
