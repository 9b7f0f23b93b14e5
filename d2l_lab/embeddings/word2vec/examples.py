"""How a chunk of the corpus becomes word2vec's training examples: the three layouts.

Every layout draws from the chunk's own generator, in this order: subsampling (by the trainer),
the (centre, context) pairs with a random window per centre, then the layout's shuffle; the
objective's draws (noise words) come after. An example has one target word and the input words
that predict it; a batch is examples batch_starts[b]:batch_starts[b + 1], and `inputs` hands the
objective their input vectors as [examples, inputs per example, dim], with the function that
sends the vectors' steps back to the parameters.

- `Pairs` (skip-gram): every (centre, context) pair, shuffled; the centre predicts the context.
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
        self.member_starts = np.zeros(examples.size + 1, dtype=np.int64)
        np.cumsum(widths, out=self.member_starts[1:])
        # The pairs of the centre at position p are pairs first_pair[p]:first_pair[p + 1];
        # lay them out example after example.
        first_pair = np.concatenate([[0], np.cumsum(counts)])
        by_example = np.repeat(first_pair[examples] - self.member_starts[:-1], widths) + np.arange(contexts.size)
        self.words = torch.from_numpy(contexts[by_example]).to(device)
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
