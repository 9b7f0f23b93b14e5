"""The random parts of word2vec, each drawn for a whole epoch at once with numpy.

Subsampling of frequent words, centre/context pairs with a random window per centre, and noise
words from the unigram^0.75 distribution are exactly the book's (and Mikolov's C tool's)
formulas; drawing them as whole arrays from one seeded generator per epoch keeps the data side
to a fraction of a second per PTB epoch and makes every epoch reproducible on its own.
"""

from __future__ import annotations

import numpy as np


def discard_probabilities(counts: np.ndarray, t: float = 1e-4) -> np.ndarray:
    """P(discard w) = max(1 - sqrt(t / f(w)), 0) with f(w) = count(w) / total (the book's rule).

    Words much more frequent than `t` ("the", "a") carry little information per occurrence, so
    most of their occurrences are dropped; words rarer than `t` are always kept.
    """
    counts = np.asarray(counts, dtype=np.float64)
    freq = counts / counts.sum()
    with np.errstate(divide="ignore"):
        return np.maximum(1.0 - np.sqrt(t / freq), 0.0)


def subsample(ids: np.ndarray, offsets: np.ndarray, counts: np.ndarray, t: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Drop each token with its word's discard probability; returns the new (ids, offsets).

    Dropped tokens are removed before windows are formed, so the kept words see context that
    was further away (as in the book and the C tool). `t <= 0` keeps everything.
    """
    if t <= 0:
        return ids, offsets
    keep = rng.random(ids.size) >= discard_probabilities(counts, t)[ids]
    kept_before = np.zeros(ids.size + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return ids[keep], kept_before[offsets]


def context_pairs(ids: np.ndarray, offsets: np.ndarray, window: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs of one epoch, in corpus order.

    Each centre token draws its window size b uniformly from 1..window and pairs with the
    tokens at distance <= b inside its own sentence, so near words are used more often than
    far ones (the C tool's weighting). The loop runs over the 2*window offsets, not tokens.
    """
    n = ids.size
    half = draw_window_sizes(n, window, rng)
    sentence = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    position = np.arange(n)
    start = offsets[sentence]
    end = offsets[sentence + 1]
    centres, contexts, order = [], [], []
    for d in range(-window, window + 1):
        if d == 0:
            continue
        other = position + d
        valid = (abs(d) <= half) & (other >= start) & (other < end)
        where = np.flatnonzero(valid)
        centres.append(ids[where])
        contexts.append(ids[where + d])
        order.append(where * (2 * window) + (d + window - (d > 0)))
    # Interleave back to corpus order (centre by centre), the order the C tool trains in.
    sort = np.argsort(np.concatenate(order), kind="stable")
    return np.concatenate(centres)[sort], np.concatenate(contexts)[sort]


def draw_window_sizes(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """One window size per centre token, uniform on 1..window."""
    return rng.integers(1, window + 1, size=n)


class NoiseSampler:
    """Noise words drawn with P(w) proportional to count(w)^power (0.75: the paper's choice).

    The power flattens the unigram distribution so that rarer words are used as negatives
    more often than their frequency alone would give. Sampling is a binary search of uniform
    draws in the cumulative table: vectorised and exact.
    """

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        weights = np.asarray(counts, dtype=np.float64) ** power
        if weights.size == 0 or not weights.sum() > 0:
            raise ValueError("noise distribution needs at least one word with a positive count")
        self.probabilities = weights / weights.sum()
        self._cumulative = np.cumsum(self.probabilities)
        self._cumulative[-1] = 1.0

    def sample(self, shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Noise word ids of the given shape."""
        draws = rng.random(shape)
        return np.searchsorted(self._cumulative, draws, side="right").astype(np.int64)
