"""How a chunk of the corpus becomes word2vec's training examples: the four layouts.

Every layout draws from the chunk's own generator, in this order: subsampling (by the trainer),
the (centre, context) pairs with a random window per centre, then the layout's shuffle; the
objective's draws (noise words) come after. An example has one target word and the input words
that predict it; a batch is examples batch_starts[b]:batch_starts[b + 1], and `inputs` hands the
objective their input vectors as [examples, inputs per example, dim], with the function that
sends the vectors' steps back to the parameters.

- `Pairs` (skip-gram): every (centre, context) pair, shuffled; the centre predicts the context.
- `PairsOfCentre` (fastText's skip-gram): the same pairs, a centre's contexts in one batch, so that
  a centre whose input is costly to build (the mean of its subword rows) is built once for them.
- `ContextMeans` (CBOW): every centre with context, shuffled; the mean of its context vectors
  predicts it, and every context word takes the mean's whole step (the C tool's and gensim's
  choice; the exact gradient's 1/n share under-trains them on PTB).
- `ContextsOfCentre` (skip-gram with hierarchical softmax): grouped as CBOW, but each context word
  predicts the centre on its own, as in the C tool and gensim (the context word is the input),
  so that the centre's path is gathered once for all its contexts. Batches hold centres with equal
  numbers of contexts (`batches_of_equal_width`), so that their contexts fill a
  [centres, contexts, dim] block without padding.

Windows stop at the chunk's ends as at a sentence's; a chunk ends at a sentence start unless one
sentence is longer than a chunk (`chunk_bounds`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from d2l_lab.devices import to_numpy
from d2l_lab.embeddings.sampling import context_pairs
from d2l_lab.embeddings.word2vec.rows import add_rows, pad

InputRows = Callable[[torch.Tensor], "tuple[torch.Tensor, Callable[[torch.Tensor], None]]"]
"""The trainer's input side: the vectors of some words [n, dim] and the function that applies
their steps (`Word2VecTrainer.input_rows`)."""
ApplySteps = Callable[[torch.Tensor], None]


class Examples:
    """A chunk's examples: `targets` [examples] on the device, `batch_starts`, the chunk's
    `counts` (pairs, tokens after subsampling) and the objective's `draws` for each batch."""

    targets: torch.Tensor
    batch_starts: np.ndarray
    counts: dict[str, int]
    draws: torch.Tensor | None = None

    @property
    def batches(self) -> int:
        return self.batch_starts.size - 1

    def inputs(self, input_rows: InputRows, start: int, stop: int, padded: int
               ) -> tuple[torch.Tensor, ApplySteps, int]:
        """The input vectors of examples start:stop, padded to `padded` examples (the padding
        masked by the objective) as [padded, inputs per example, dim]; the function that applies
        their steps (same shape); and the loss terms of these examples."""
        raise NotImplementedError


class Pairs(Examples):
    def __init__(self, ids: np.ndarray, offsets: np.ndarray, window: int, batch_size: int,
                 rng: np.random.Generator, device: torch.device) -> None:
        centres, contexts, _ = context_pairs(ids, offsets, window, rng)
        # torch's randperm is twice as fast as numpy's here
        shuffle = torch.Generator().manual_seed(int(rng.integers(2**63)))
        order = to_numpy(torch.randperm(centres.size, generator=shuffle))
        self.words = torch.from_numpy(centres[order]).to(device)
        self.targets = torch.from_numpy(contexts[order]).to(device)
        self.batch_starts = np.append(np.arange(0, centres.size, batch_size), centres.size)
        self.counts = {"pairs": centres.size, "tokens": ids.size}

    def inputs(self, input_rows: InputRows, start: int, stop: int, padded: int
               ) -> tuple[torch.Tensor, ApplySteps, int]:
        rows, apply_steps = input_rows(pad(self.words[start:stop], padded - (stop - start)))
        return rows.unsqueeze(1), lambda steps: apply_steps(steps.squeeze(1)), stop - start


class PairsOfCentre(Pairs):
    """Skip-gram's pairs with each centre's contexts close together, the centres in random order
    (as fastText and gensim take them, a centre's contexts in turn): a batch then holds a third of
    the distinct centre words that shuffled pairs would (PTB: 775 against 2,490 of 4,096 pairs),
    which an input built once per distinct word in a batch (fastText's subword means) needs.

    Each run of `run` pairs (default: a batch; with workers, a worker's slice of one, which then
    holds whole centres too) is shuffled: negative sampling's consecutive pairs share noise words,
    and a centre's contexts all scored against the same few cost fastText 0.06 analogy accuracy
    and 0.024 WS353 rho on PTB (seeds 0-2); shuffled runs of 256 pairs still cost 0.011 analogy
    accuracy (seeds 0-4, lower in each)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, window: int, batch_size: int,
                 rng: np.random.Generator, device: torch.device, run: int | None = None) -> None:
        _, contexts, positions = context_pairs(ids, offsets, window, rng, by_centre=True)
        counts = np.bincount(positions, minlength=ids.size)
        centres = rng.permutation(np.flatnonzero(counts))
        _, contexts = contexts_of(centres, contexts, counts)
        order = shuffled_in_runs(contexts.size, run or batch_size, rng)
        self.words = torch.from_numpy(np.repeat(ids[centres], counts[centres])[order]).to(device)
        self.targets = torch.from_numpy(contexts[order]).to(device)
        self.batch_starts = np.append(np.arange(0, contexts.size, batch_size), contexts.size)
        self.counts = {"pairs": contexts.size, "tokens": ids.size}


def shuffled_in_runs(n: int, run: int, rng: np.random.Generator) -> np.ndarray:
    """0..n-1 with each run of `run` numbers (and the shorter last one) shuffled in place."""
    order = np.arange(n)
    whole = n - n % run
    order[:whole] = rng.permuted(order[:whole].reshape(-1, run), axis=1).ravel()
    order[whole:] = rng.permutation(order[whole:])
    return order


def contexts_of(centres: np.ndarray, contexts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The contexts of the centres at positions `centres`, centre after centre, and where each
    centre's start (and the last one's end). `contexts` are grouped by position, in position order
    (`context_pairs(by_centre=True)`), position p having counts[p] of them."""
    widths = counts[centres]
    starts = np.zeros(centres.size + 1, dtype=np.int64)
    np.cumsum(widths, out=starts[1:])
    # The contexts of the centre at position p are first[p]:first[p + 1].
    first = np.concatenate([[0], np.cumsum(counts)])
    return starts, contexts[np.repeat(first[centres] - starts[:-1], widths) + np.arange(starts[-1])]


class _ByCentre(Examples):
    """Examples grouped by centre: example i is the centre word targets[i] with its context words
    words[member_starts[i]:member_starts[i + 1]]."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, window: int, batch_size: int,
                 rng: np.random.Generator, device: torch.device) -> None:
        # Pairs come already grouped by centre: no sort of the pairs.
        _, contexts, positions = context_pairs(ids, offsets, window, rng, by_centre=True)
        counts = np.bincount(positions, minlength=ids.size)
        examples = rng.permutation(np.flatnonzero(counts))
        examples, self.batch_starts = self.batched(examples, counts[examples], batch_size, rng)
        widths = counts[examples]
        self.member_starts, contexts = contexts_of(examples, contexts, counts)
        self.words = torch.from_numpy(contexts).to(device)
        self.members = torch.from_numpy(np.repeat(np.arange(examples.size), widths)).to(device)
        self.targets = torch.from_numpy(ids[examples]).to(device)
        self.counts = {"pairs": contexts.size, "tokens": ids.size}

    def batched(self, examples: np.ndarray, widths: np.ndarray, batch_size: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
        """The examples in batch order and the start of each batch (and the end of the last)."""
        return examples, np.append(np.arange(0, examples.size, batch_size), examples.size)


class ContextMeans(_ByCentre):
    def inputs(self, input_rows: InputRows, start: int, stop: int, padded: int
               ) -> tuple[torch.Tensor, ApplySteps, int]:
        lo, hi = self.member_starts[start], self.member_starts[stop]
        owner = self.members[lo:hi] - start
        context_rows, apply_context_steps = input_rows(self.words[lo:hi])
        counts = torch.bincount(owner, minlength=padded).clamp_(min=1)
        inv_counts = counts.to(context_rows.dtype).reciprocal_().unsqueeze(1)
        means = context_rows.new_zeros(padded, context_rows.shape[1])
        add_rows(means, owner, context_rows)
        means.mul_(inv_counts)
        # every context word takes the mean's whole step, as in the C tool and gensim
        return means.unsqueeze(1), lambda steps: apply_context_steps(steps.squeeze(1).index_select(0, owner)), stop - start


class ContextsOfCentre(_ByCentre):
    def batched(self, examples: np.ndarray, widths: np.ndarray, batch_size: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
        return batches_of_equal_width(examples, widths, batch_size, rng)

    def inputs(self, input_rows: InputRows, start: int, stop: int, padded: int
               ) -> tuple[torch.Tensor, ApplySteps, int]:
        lo, hi = int(self.member_starts[start]), int(self.member_starts[stop])
        centres = stop - start
        rows, apply_steps = input_rows(self.words[lo:hi])
        return (rows.view(centres, (hi - lo) // centres, rows.shape[1]),
                lambda steps: apply_steps(steps.view(-1, rows.shape[1])), hi - lo)


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
