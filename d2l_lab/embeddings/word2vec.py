"""Word2vec (skip-gram and CBOW, with negative sampling or hierarchical softmax), trained fast on a CPU.

This engine is an optimisation of the book's model, `embeddings.reference` (`SkipGram`, `CBOW`:
two embedding tables, the loss of `SigmoidBCELoss` over context and noise words); the tests check
its loss and updates against autograd on that module. The optimisations:

1. Sparse, hand-derived steps. The book runs autograd and dense Adam over both tables, touching
   all 2 x V x d parameters per step; here `sgns_gradients` computes the gradients of the
   gathered rows by hand and each step adds plain SGD updates to those rows only, with the C
   tool's linearly decaying learning rate, over batches of 2048 pairs.
2. Shared noise words. The book draws K noise words per pair; here one draw of S words serves a
   group of `negative_group` pairs, each pair scoring all S with weight K/S (the same objective
   in expectation), so the noise term is two small matrix products per group. Each noise row
   then sums the steps of its group only, which keeps high learning rates stable.
3. Pairs, summed. The loss is summed over (centre, context) pairs, and a row used by several
   pairs of a batch takes the sum of their steps, as a dense gradient of that sum would. The
   book divides each centre's loss by its number of valid entries, so a centre with many
   contexts weighs no more than one with few; here, as in the C tool and gensim, every pair
   counts once.
4. CBOW's full step. The input is the mean of the context vectors, and, as in the C tool and
   gensim, every context vector takes the mean's whole step rather than its 1/n share (the exact
   gradient), which under-trains them on PTB.

The input side goes through one overridable method, `input_rows` (the input vectors of some
words, with the function that applies their steps): fastText builds its vectors from subword
rows there, and the rest of its step is this one. Bit-for-bit reproducibility holds on CPU
with one worker; CUDA's scatter-add order is not deterministic. With `workers` > 1, processes
train each chunk's batches together over shared tables, without locks (`embeddings.hogwild`,
as the C tool's and gensim's threads do), and the vectors vary from run to run.

Parts of an epoch. A run trains an epoch as `parts_per_epoch` parts (`train_part`), one run-loop
step each: every chunk is cut into one part per PART_TOKENS corpus tokens, each part a
contiguous share of the chunk's shuffled batches. A part takes a fraction of a second, so a
progress display moves within an epoch and Ctrl-C stops within about a second. The cut changes
nothing that is computed: a chunk's examples are drawn once when its first part starts (and
drawn again, identically, from their seeds after a resume in mid-chunk), and the batches, their
learning rates and the loss sums run in the same order as in one pass. `state_dict` holds the
position (epochs and parts done) and the epoch's running sums, so a resume between any two
parts repeats the uninterrupted run bit for bit. With workers > 1 a chunk is one part, trained
by the workers at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from d2l_lab.devices import use_cpu_cores
from d2l_lab.embeddings.hierarchical_softmax import hs_gradients, huffman_tree, node_step_scale
from d2l_lab.embeddings.parts import TrainsInParts, report_due
from d2l_lab.embeddings.sampling import NoiseSampler, context_pairs, subsample
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab

if TYPE_CHECKING:
    from d2l_lab.experiments.word2vec import Word2VecConfig

PART_TOKENS = 25_000
"""Corpus tokens per part of an epoch (one run-loop step): fastText, the slowest trainer, takes
about 0.15 s for them on one core (word2vec 0.03 s), so Ctrl-C waits well under a second, and
the run loop's work between steps stays negligible."""

_INIT_STREAM, _EPOCH_STREAM = 0, 1  # separate random streams of one seed


def sgns_gradients(
    inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor, weight: float,
    mask: torch.Tensor | None = None, scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss and hand-derived gradients of negative sampling for groups sharing noise words.

    Shapes: `inputs`, `targets` [G, g, d] (input vector and true output vector of each pair),
    `noise` [G, S, d] (output vectors of the group's noise words). Per pair the loss is
        -log sigmoid(x . y) - weight * sum_s log sigmoid(-x . n_s),
    with weight = K / S, i.e. K noise words in expectation. `mask` [G, g] zeroes padding pairs.
    Returns (loss per pair [G, g], d/d inputs, d/d targets, d/d noise), the gradients
    multiplied by `scale` (-lr turns them into SGD steps at no extra cost).
    """
    positive = (inputs * targets).sum(-1)
    # Scores as [G, S, g] = noise @ inputs^T: the same numbers as inputs @ noise^T, but torch's
    # CPU bmm runs this layout 1.7x faster for PTB's shapes (S=8 noise rows, g=16 pairs, d=100).
    negative = torch.bmm(noise, inputs.transpose(1, 2))
    softplus = torch.nn.functional.softplus
    loss = softplus(-positive) + weight * softplus(negative).sum(1)
    # d loss / d score: sigmoid(s) - 1 for the true pair, weight * sigmoid(s) for noise.
    grad_positive = torch.sigmoid(positive).sub_(1).mul_(scale)
    grad_negative = torch.sigmoid(negative).mul_(weight * scale)
    if mask is not None:
        loss = loss * mask
        grad_positive.mul_(mask)
        grad_negative.mul_(mask.unsqueeze(1))
    grad_positive = grad_positive.unsqueeze(-1)
    return (
        loss,
        torch.baddbmm(grad_positive * targets, grad_negative.transpose(1, 2), noise),
        grad_positive * inputs,
        torch.bmm(grad_negative, inputs),
    )


class _Chunk:
    """One chunk's training examples: tokens [lo, hi) of the corpus, drawn from its own generator.

    Skip-gram with negative sampling: every (centre, context) pair, shuffled; inputs are centres,
    targets contexts. CBOW: every centre token that has context, shuffled; the input is the mean
    of its context words (`members` lists them per example), the target the centre word.
    Skip-gram with hierarchical softmax is grouped as CBOW, but each context word predicts the
    centre's path on its own, as in the C tool and gensim (the context word is the input): the
    centre's path is then gathered once for all its contexts. Its batches hold centres with equal
    numbers of contexts, about batch_size pairs each, in random order (`batches_of_equal_width`),
    so that a batch's contexts fill a [centres, contexts, dim] block without padding. Batch b is
    examples batch_starts[b]:batch_starts[b + 1]. Windows stop at the chunk's ends as at a
    sentence's; a chunk ends at a sentence start unless one sentence is longer than a chunk.
    """

    def __init__(self, trainer: Word2VecTrainer, ids: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> None:
        cfg = trainer.cfg
        ids, offsets = subsample(ids, offsets, trainer.vocab.counts, cfg.subsample, rng)
        grouped = cfg.model == "cbow" or trainer.tree is not None
        centres, contexts, positions = context_pairs(ids, offsets, cfg.window, rng, by_centre=grouped)
        self.tokens = ids.size
        self.pairs = centres.size
        self.per_context = cfg.model == "skipgram" and grouped
        """Each context word of an example is a loss term of its own (skip-gram grouped by centre)."""
        if not grouped:  # torch's randperm is twice as fast as numpy's here
            shuffle = torch.Generator().manual_seed(int(rng.integers(2**63)))
            order = torch.randperm(centres.size, generator=shuffle).numpy()
            self.inputs, self.targets = centres[order], contexts[order]
            self.members = self.member_starts = None
        else:
            counts = np.bincount(positions, minlength=ids.size)
            examples = rng.permutation(np.flatnonzero(counts))
            if self.per_context:
                examples, self.batch_starts = batches_of_equal_width(examples, counts[examples], cfg.batch_size, rng)
            widths = counts[examples]
            self.member_starts = np.zeros(examples.size + 1, dtype=np.int64)
            np.cumsum(widths, out=self.member_starts[1:])
            # The pairs of the centre at position p are pairs first_pair[p]:first_pair[p + 1];
            # lay them out example after example.
            first_pair = np.concatenate([[0], np.cumsum(counts)])
            by_example = np.repeat(first_pair[examples] - self.member_starts[:-1], widths) + np.arange(self.pairs)
            self.inputs = contexts[by_example]
            self.members = np.repeat(np.arange(examples.size), widths)
            self.targets = ids[examples]
        self.examples = self.targets.size
        if not self.per_context:
            self.batch_starts = np.append(np.arange(0, self.examples, cfg.batch_size), self.examples)
        self.batches = self.batch_starts.size - 1
        if trainer.tree is None:
            groups = cfg.batch_size // cfg.negative_group
            self.noise = trainer.noise.sample((self.batches, groups, cfg.shared_negatives), rng)
        else:  # hierarchical softmax draws no noise words
            self.noise = None

    def loss_terms(self, b: int) -> int:
        """Terms in batch `b`'s summed loss: its pairs (skip-gram) or examples (CBOW)."""
        start, stop = self.batch_starts[b], self.batch_starts[b + 1]
        if self.per_context:
            return int(self.member_starts[stop] - self.member_starts[start])
        return int(stop - start)


def batches_of_equal_width(examples: np.ndarray, widths: np.ndarray, batch_size: int,
                           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cut `examples` (in random order; example i has widths[i] loss terms) into batches whose
    examples have equal widths and about `batch_size` terms in all, and shuffle the batches.
    Returns (the examples in batch order, the start of each batch and the end of the last).

    Window sizes are drawn independently of the words, so batching by width leaves every batch
    a random sample of centres; only the padding of narrower examples to the widest goes."""
    by_width = np.argsort(widths, kind="stable")  # stable: each width keeps the random order
    examples, widths = examples[by_width], widths[by_width]
    starts = []
    for width in np.unique(widths):
        lo, hi = np.searchsorted(widths, [width, width + 1])
        starts += range(lo, hi, max(1, round(batch_size / width)))
    bounds = np.append(starts, examples.size)
    order = rng.permutation(len(starts))
    examples = np.concatenate([examples[bounds[b]:bounds[b + 1]] for b in order]) if starts else examples
    return examples, np.append(0, np.cumsum(np.diff(bounds)[order]))


def chunk_bounds(offsets: np.ndarray, tokens: int, chunk_tokens: int) -> list[tuple[int, int]]:
    """Token ranges [lo, hi) of at most `chunk_tokens` tokens covering 0..tokens: each cut moves
    back to the last sentence start after the previous cut, or stays put inside a sentence
    longer than a chunk. A corpus of at most `chunk_tokens` tokens is one chunk."""
    bounds, lo = [], 0
    while tokens - lo > chunk_tokens:
        target = lo + chunk_tokens
        sentence_start = int(offsets[np.searchsorted(offsets, target, side="right") - 1])
        hi = sentence_start if sentence_start > lo else target
        bounds.append((lo, hi))
        lo = hi
    bounds.append((lo, tokens))
    return bounds


def chunk_offsets(offsets: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The sentence starts inside tokens [lo, hi), relative to lo, with 0 first and hi - lo last."""
    inside = offsets[np.searchsorted(offsets, lo, side="right"):np.searchsorted(offsets, hi, side="left")]
    return np.concatenate([[0], np.asarray(inside, dtype=np.int64) - lo, [hi - lo]]).astype(np.int64)


def chunk_parts(chunks: Sequence[tuple[int, int]], part_tokens: int | None) -> list[tuple[int, int, int]]:
    """The parts of an epoch, in order, as (chunk index, part of the chunk, parts of the chunk):
    one part per `part_tokens` tokens of each chunk (at least one), or one per chunk (None)."""
    parts = []
    for index, (lo, hi) in enumerate(chunks):
        count = 1 if part_tokens is None else max(1, math.ceil((hi - lo) / part_tokens))
        parts += [(index, k, count) for k in range(count)]
    return parts


def part_batches(batches: int, part: int, parts: int) -> range:
    """The batches of part `part` of `parts` of a chunk: contiguous shares, the first ones
    rounded up, so that the first part of a chunk with any batch has one."""
    return range(-(-part * batches // parts), -(-(part + 1) * batches // parts))


@dataclass
class _EpochSums:
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
    """Examples (pairs, or CBOW centres) in the batches done."""
    drawn_batches: int = 0
    pairs: int = 0
    tokens: int = 0
    """Batches, pairs and tokens (after subsampling) of the chunks drawn so far."""
    lr: float = 0.0
    """The learning rate of the last batch done."""
    seconds: float = 0.0
    """Time spent in `train_part` on this epoch."""

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total.cpu().clone(), "recent": self.recent.cpu().clone(),
                "recent_examples": self.recent_examples, "batches": self.batches, "examples": self.examples,
                "drawn_batches": self.drawn_batches, "pairs": self.pairs, "tokens": self.tokens, "lr": self.lr,
                "seconds": self.seconds}


class Word2VecTrainer(TrainsInParts):
    """Owns the two embedding tables and trains them epoch by epoch, a chunk at a time.

    All randomness of chunk c of epoch e comes from a generator seeded by (seed, e, c) (by
    (seed, e) for c = 0, so that a corpus of one chunk, PTB, draws what it drew before chunks
    existed), and the initial tables from one seeded by `seed`, so training after
    `load_state_dict` of a state saved between any two parts repeats an uninterrupted run
    exactly (bit for bit on CPU, one worker). `ids` may be a read-only memory map: only one
    chunk of it is copied at a time, and a chunk's examples are freed before the next chunk's
    are drawn.
    """

    config_section = "word2vec"
    """The config section that errors name (`fasttext` for the subclass)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, vocab: Vocab, cfg: Word2VecConfig,
                 seed: int, device: torch.device) -> None:
        if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
            raise ValueError("token ids must come from vocab.encode of this vocabulary")
        use_cpu_cores(self.config_section, cfg.threads, cfg.workers, device)
        cfg = cfg.resolved()  # a config built in code, not by `compose`, may leave loss-dependent defaults unset
        self.ids, self.offsets, self.vocab, self.cfg = ids, offsets, vocab, cfg
        self.seed, self.device = seed, device
        # Loss sums stay on the device (no sync per batch); MPS has no float64.
        self._sum_dtype = torch.float32 if device.type == "mps" else torch.float64
        self.noise = NoiseSampler(vocab.counts)
        self.tree = None
        """Hierarchical softmax's Huffman tree on the device: points [V, depth] as int32 (the C
        tool's width), codes [V, depth] and lengths [V]; 5 bytes per word and level where int64
        points and a stored float mask took 13 (`paths` builds a batch's mask)."""
        if cfg.loss == "hs":
            tree = huffman_tree(vocab.counts)
            self.tree = tuple(torch.from_numpy(array).to(device)
                              for array in (tree.points.astype(np.int32), tree.codes, tree.lengths))
        self.chunks = chunk_bounds(offsets, ids.size, cfg.chunk_tokens)
        # Workers train a whole chunk at once (a part each would fork them at every part).
        self.parts = chunk_parts(self.chunks, PART_TOKENS if cfg.workers == 1 else None)
        self.parts_per_epoch = len(self.parts)
        self.epochs_done = 0
        self.parts_done = 0
        """Parts done of the epoch in progress (0 between epochs)."""
        self._sums = self._new_sums()
        self._current: tuple[tuple[int, int], _Chunk, dict[str, torch.Tensor]] | None = None
        """The chunk being trained: (epoch, chunk index), its examples and their tensors."""
        self._drawn_ahead: tuple[tuple[int, int], _Chunk] | None = None  # with workers > 1
        # The C tool's and gensim's init: small random inputs, zero outputs, so that every
        # score starts at 0 and the first updates move the outputs towards the inputs.
        rng = np.random.default_rng([seed, _INIT_STREAM])
        shape = (len(vocab), cfg.dim)
        initial = (rng.random(shape, dtype=np.float32) - np.float32(0.5)) / np.float32(cfg.dim)
        self.input_table = torch.from_numpy(initial).to(device)
        self.output_table = torch.zeros(shape, device=device)

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sequence[str]], cfg: Word2VecConfig, seed: int,
                       device: torch.device) -> Word2VecTrainer:
        """Vocabulary (min_count), encoding and trainer in one go."""
        vocab = Vocab(sentences, cfg.min_count)
        ids, offsets = vocab.encode(sentences)
        return cls(ids, offsets, vocab, cfg, seed, device)

    def learning_rate(self, progress: float) -> float:
        """SGD step size after `progress` epochs (fractional), from the schedule."""
        cfg = self.cfg
        if cfg.lr_schedule == "constant":
            return cfg.lr
        return cfg.lr * max(1.0 - progress / cfg.epochs, cfg.min_lr_ratio)

    def epoch_chunk(self, epoch: int, index: int) -> _Chunk:
        """The training examples of chunk `index` of epoch `epoch`."""
        lo, hi = self.chunks[index]
        seed = [self.seed, _EPOCH_STREAM, epoch] + ([index] if index else [])
        ids = np.asarray(self.ids[lo:hi], dtype=np.int64)
        return _Chunk(self, ids, chunk_offsets(self.offsets, lo, hi), np.random.default_rng(seed))

    @property
    def batches_this_epoch(self) -> int:
        """Batches of the epoch in progress (or last run) in the chunks drawn so far: all of
        them once the epoch ends, and before the first `on_batch` for a corpus of one chunk."""
        return self._sums.drawn_batches

    def train_part(self, epoch: int, part: int, on_batch: Callable[[float, float], None] | None = None
                   ) -> dict[str, Any]:
        """Train part `part` of epoch `epoch` (both 0-based; must be the next part) and return the
        epoch's metrics so far: `loss` (mean per example of the batches done), `lr` (the last
        batch's), `seconds`, `pairs` and `tokens` (of the chunks drawn), and `position` (epochs
        done, as a fraction, at the end of this part). After the epoch's last part they are the
        epoch's.

        `on_batch(position, mean_loss_since_last_call)` is called when `report_due` (about every
        REPORT_EVERY batches of the epoch, and after its last), `position` being the run's
        position in epochs at the end of that batch. The learning rate decays with the position in
        the whole run: chunk [lo, hi) covers epoch + lo/N .. epoch + hi/N of it (N corpus tokens).
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
            data = self._next_chunk(epoch, index)
            sums.drawn_batches += data.batches
            sums.pairs += data.pairs
            sums.tokens += data.tokens
            self._current = ((epoch, index), data, self._to_device(data))
        elif self._current is None or self._current[0] != (epoch, index):  # resumed in mid-chunk
            data = self.epoch_chunk(epoch, index)
            self._current = ((epoch, index), data, self._to_device(data))
        _, data, tensors = self._current
        corpus_tokens = max(self.ids.size, 1)
        last_chunk = index + 1 == len(self.chunks)
        # lo / N = 0 and (hi - lo) / N = 1 for a single chunk: the rate of each batch is then
        # exactly that of the unchunked epoch.
        first, share = epoch + lo / corpus_tokens, (hi - lo) / corpus_tokens
        # With several workers the chunk (one part) is trained first and its batches' losses reported after.
        losses = self._train_in_workers(tensors, data, epoch, index, first, share) if self.cfg.workers > 1 else None
        for b in part_batches(data.batches, k, count):
            lr = self.learning_rate(first + b / data.batches * share)
            if losses is None:
                loss, size = self._step(tensors, data, b, lr)
            else:
                loss, size = losses[b], data.loss_terms(b)
            sums.total += loss
            sums.recent += loss
            sums.recent_examples += size
            sums.examples += size
            sums.batches += 1
            sums.lr = lr
            if on_batch is not None and report_due(sums.batches, data.batches - b - 1 if last_chunk else None):
                on_batch(epoch + (lo + (hi - lo) * (b + 1) / data.batches) / corpus_tokens,
                         float(sums.recent) / max(sums.recent_examples, 1))
                sums.recent.zero_()
                sums.recent_examples = 0
        if k + 1 == count:
            self._current = None  # before the next chunk's examples are drawn
        self.parts_done += 1
        if self.parts_done == self.parts_per_epoch:
            self.epochs_done, self.parts_done = self.epochs_done + 1, 0
        sums.seconds += time.perf_counter() - started
        return {
            "loss": float(sums.total) / max(sums.examples, 1),
            "pairs": sums.pairs,
            "tokens": sums.tokens,
            "lr": sums.lr,
            "seconds": sums.seconds,
            "position": epoch + (lo + (hi - lo) * (k + 1) / count) / corpus_tokens,
        }

    def _new_sums(self) -> _EpochSums:
        total = torch.zeros((), dtype=self._sum_dtype, device=self.device)
        return _EpochSums(total, torch.zeros_like(total), lr=self.cfg.lr)

    def _next_chunk(self, epoch: int, index: int) -> _Chunk:
        """Chunk `index` of epoch `epoch`: the one drawn ahead while workers trained, if it is."""
        ahead, self._drawn_ahead = self._drawn_ahead, None
        if ahead is not None and ahead[0] == (epoch, index):
            return ahead[1]
        return self.epoch_chunk(epoch, index)

    def _train_in_workers(self, tensors: dict[str, torch.Tensor], data: _Chunk, epoch: int, index: int,
                          first: float, share: float) -> torch.Tensor:
        """Train the chunk's batches in `cfg.workers` processes (`embeddings.hogwild`), each batch
        at the learning rate of its position in the run, as the serial loop; returns their losses.

        Each batch is stepped in `workers` slices of whole groups, one worker's step each. A
        frequent word's row takes the summed step of all its pairs in a step, computed from the
        row as it was; W workers stepping at once from the same rows would add W such stale
        steps, which diverges where one worker's full batch does not (small vocabularies). W
        slices of 1/W of a batch add up to about one batch's step at a time, as the serial loop.

        Meanwhile this process first draws the next chunk (its examples depend on the seeds
        alone, not on the tables), so that drawing overlaps training instead of idling the
        other workers; at most two chunks' examples exist at once."""
        from d2l_lab.embeddings.hogwild import train_batches

        following = (epoch, index + 1) if index + 1 < len(self.chunks) else (epoch + 1, 0)

        def draw_ahead() -> None:
            if following[0] < self.cfg.epochs:
                self._drawn_ahead = (following, self.epoch_chunk(*following))

        workers = self.cfg.workers

        def step(unit: int) -> tuple[torch.Tensor, int]:
            b, part = divmod(unit, workers)
            return self._step(tensors, data, b, self.learning_rate(first + b / data.batches * share), part, workers)

        losses = train_batches(step, data.batches * workers, workers, self.shared_tables(), draw_ahead)
        return losses.view(data.batches, workers).sum(1)

    def shared_tables(self) -> list[torch.Tensor]:
        """The tensors that steps write to, put in shared memory before workers fork (in place:
        views such as fastText's input_table follow)."""
        return [self.input_table, self.output_table]

    def _to_device(self, data: _Chunk) -> dict[str, torch.Tensor]:
        arrays = {"inputs": data.inputs, "targets": data.targets}
        if data.noise is not None:
            arrays["noise"] = data.noise
        if data.members is not None:
            arrays["members"] = data.members
        return {name: torch.from_numpy(array).to(self.device) for name, array in arrays.items()}

    def _step(self, tensors: dict[str, torch.Tensor], data: _Chunk, b: int, lr: float,
              part: int = 0, parts: int = 1) -> tuple[torch.Tensor, int]:
        """One SGD step on batch `b`, or on its `part`-th of `parts` slices of whole groups (of
        `negative_group` examples with negative sampling, single examples with hierarchical
        softmax); returns (summed loss, loss terms in the step)."""
        cfg = self.cfg
        group = cfg.negative_group if self.tree is None else 1
        batch_start, batch_stop = int(data.batch_starts[b]), int(data.batch_starts[b + 1])
        groups_in_batch = -(-(batch_stop - batch_start) // group)
        first_group = part * groups_in_batch // parts
        start = batch_start + first_group * group
        stop = min(batch_start + (part + 1) * groups_in_batch // parts * group, batch_stop)
        size = stop - start
        if size <= 0:  # a slice past the end of the last batch
            return torch.zeros((), dtype=self._sum_dtype, device=self.device), 0
        if data.per_context:
            return self._skipgram_hierarchical_softmax(tensors, data, start, stop, lr)
        groups = math.ceil(size / group)
        padding = groups * group - size
        targets = _pad(tensors["targets"][start:stop], padding)
        if data.members is None:
            inputs, apply_input_steps = self.input_rows(_pad(tensors["inputs"][start:stop], padding))
        else:
            lo, hi = data.member_starts[start], data.member_starts[stop]
            owner = tensors["members"][lo:hi] - start
            context_rows, apply_context_steps = self.input_rows(tensors["inputs"][lo:hi])
            counts = torch.bincount(owner, minlength=groups * group).clamp_(min=1)
            inv_counts = counts.to(context_rows.dtype).reciprocal_().unsqueeze(1)
            inputs = context_rows.new_zeros(groups * group, cfg.dim)
            _add_rows(inputs, owner, context_rows)
            inputs.mul_(inv_counts)
        mask = None
        if padding:
            mask = torch.ones(groups * group, device=self.device)
            mask[size:] = 0
            mask = mask.view(groups, group)
        if self.tree is None:
            loss, step_inputs = self._negative_sampling(inputs, targets, tensors["noise"][b], first_group, mask, lr)
        else:
            loss, step_inputs = self._hierarchical_softmax(inputs, targets, lr)  # no padding: groups of 1
        if data.members is None:
            apply_input_steps(step_inputs)
        else:  # every context word takes the mean's whole step, as in the C tool and gensim
            apply_context_steps(step_inputs.index_select(0, owner))
        return loss.sum(dtype=self._sum_dtype), size

    def _negative_sampling(self, inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor,
                           first_group: int, mask: torch.Tensor | None, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps the output rows of targets and noise words (the batch's `noise` draws, from
        group `first_group` on); returns (loss per pair, steps of the inputs [n, dim])."""
        cfg = self.cfg
        groups = targets.numel() // cfg.negative_group
        noise_ids = noise[first_group:first_group + groups].reshape(-1)
        shape = (groups, cfg.negative_group, cfg.dim)
        loss, step_inputs, step_targets, step_noise = sgns_gradients(
            inputs.view(shape), self.output_table.index_select(0, targets).view(shape),
            self.output_table.index_select(0, noise_ids).view(groups, cfg.shared_negatives, cfg.dim),
            cfg.negatives / cfg.shared_negatives, mask, scale=-lr)
        _add_rows(self.output_table, targets, step_targets.view(-1, cfg.dim))
        _add_rows(self.output_table, noise_ids, step_noise.view(-1, cfg.dim))
        return loss, step_inputs.view(-1, cfg.dim)

    def _hierarchical_softmax(self, inputs: torch.Tensor, targets: torch.Tensor, lr: float
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """CBOW: steps the inner-node rows on the targets' Huffman paths (`output_table` row n is
        inner node n) from one input each; returns (loss per example, steps of the inputs [n, dim])."""
        loss, step_inputs = self._path_steps(inputs.unsqueeze(1), targets, lr)
        return loss, step_inputs.squeeze(1)

    def _skipgram_hierarchical_softmax(self, tensors: dict[str, torch.Tensor], data: _Chunk, start: int,
                                       stop: int, lr: float) -> tuple[torch.Tensor, int]:
        """Skip-gram with hierarchical softmax on the centres `start:stop` of a grouped chunk, all
        with the same number of context words (`batches_of_equal_width`): their context words,
        laid out [centres, contexts, dim], predict their centre's path. Returns (summed loss, pairs)."""
        lo, hi = int(data.member_starts[start]), int(data.member_starts[stop])
        centres = stop - start
        rows, apply_input_steps = self.input_rows(tensors["inputs"][lo:hi])
        inputs = rows.view(centres, (hi - lo) // centres, rows.shape[1])
        loss, step_inputs = self._path_steps(inputs, tensors["targets"][start:stop], lr)
        apply_input_steps(step_inputs.view(-1, rows.shape[1]))
        return loss.sum(dtype=self._sum_dtype), hi - lo

    def _path_steps(self, inputs: torch.Tensor, targets: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps the inner-node rows on each target's Huffman path, predicted from `inputs`
        [n, M, dim], a node's summed step capped at NODE_STEP_CAP pairs' (`node_step_scale`);
        returns (loss per target, steps of the inputs [n, M, dim])."""
        points, codes, on_path = self.paths(targets)
        nodes = self.output_table.index_select(0, points.view(-1)).view(*points.shape, self.cfg.dim)
        node_scale = node_step_scale(points, on_path, inputs.shape[1], self.output_table.shape[0])
        loss, step_inputs, step_nodes = hs_gradients(inputs, nodes, codes, on_path.unsqueeze(1), -lr, node_scale)
        _add_rows(self.output_table, points.view(-1), step_nodes.view(-1, self.cfg.dim))
        return loss, step_inputs

    def paths(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The Huffman paths of `targets` [n], padded to the tree's depth: inner nodes (int64, for
        gathers and scatters), codes, and 1.0 where a decision exists, 0.0 past a path's end."""
        points, codes, lengths = self.tree
        depth = torch.arange(points.shape[1], device=points.device)
        on_path = (depth < lengths.index_select(0, targets).unsqueeze(1)).float()
        return points.index_select(0, targets).long(), codes.index_select(0, targets), on_path

    def input_rows(self, words: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], None]]:
        """The input vectors of `words` [n, dim], and the function that adds their steps [n, dim]
        to the parameters (repeated words summed). word2vec: rows of the input table."""
        return self.input_table.index_select(0, words), lambda steps: _add_rows(self.input_table, words, steps)

    def input_vectors(self) -> np.ndarray:
        """The word vectors [V, dim] float32: the input (centre) table, as the book and gensim."""
        return self.input_table.cpu().numpy().astype(np.float32, copy=True)

    def word_vectors(self) -> WordVectors:
        """Input vectors with their words, for evaluation and nearest neighbours."""
        return WordVectors(self.vocab.words, self.input_vectors())

    def state_dict(self) -> dict[str, Any]:
        """Both tables, the position (epochs and parts done) and the epoch's running sums: all a
        resume between two parts needs.

        Plain SGD keeps no optimizer state, the learning rate is a function of the position and
        a chunk's examples are drawn again from their seeds, so nothing else is needed; loads
        with `torch.load(..., weights_only=True)`.
        """
        return {"input_table": self.input_table.cpu().clone(), "output_table": self.output_table.cpu().clone(),
                "epochs_done": self.epochs_done, "parts_done": self.parts_done, "parts_per_epoch": self.parts_per_epoch,
                # Only mid-epoch: an epoch starts from zero sums, and their `seconds` is a clock
                # reading, so that checkpoints at epoch ends are the same bytes run after run.
                "epoch_sums": self._sums.state_dict() if self.parts_done else {},
                "vocab_size": len(self.vocab), "dim": self.cfg.dim, "model": self.cfg.model, "loss": self.cfg.loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = {"vocab_size": len(self.vocab), "dim": self.cfg.dim, "model": self.cfg.model, "loss": self.cfg.loss}
        found = {key: state.get(key, "ns" if key == "loss" else None) for key in expected}
        if found != expected:
            raise ValueError(f"word2vec state is for {found}, this trainer has {expected}")
        parts_done = int(state.get("parts_done", 0))  # 0 in checkpoints from before epochs had parts
        if parts_done and state.get("parts_per_epoch") != self.parts_per_epoch:
            raise ValueError(f"word2vec state is {parts_done} parts into an epoch of {state.get('parts_per_epoch')} "
                             f"parts, this trainer has {self.parts_per_epoch} parts per epoch")
        self.input_table.copy_(state["input_table"])
        self.output_table.copy_(state["output_table"])
        self.epochs_done, self.parts_done = int(state["epochs_done"]), parts_done
        self._sums, self._current = self._new_sums(), None
        if state.get("epoch_sums"):
            sums = state["epoch_sums"]
            self._sums = _EpochSums(**{**sums, "total": sums["total"].to(self.device),
                                       "recent": sums["recent"].to(self.device)})


def _add_rows(table: torch.Tensor, index: torch.Tensor, steps: torch.Tensor) -> None:
    """table[index[i]] += steps[i], repeated rows summed, as a dense gradient would be.

    On CPU, scatter_add_ with an expanded index is a sorted, parallel kernel, about 3x faster
    than index_add_ (which loops over rows).
    """
    table.scatter_add_(0, index.unsqueeze(1).expand(-1, table.shape[1]), steps)


def _pad(index: torch.Tensor, padding: int) -> torch.Tensor:
    """Fill the last group with row 0; its pairs are masked out of loss and gradients."""
    return torch.cat([index, index.new_zeros(padding)]) if padding else index
