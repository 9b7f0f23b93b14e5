"""The random parts of word2vec, each drawn for a whole chunk of an epoch at once with numpy.

Subsampling of frequent words, centre/context pairs with a random window per centre, and noise
words from the unigram^0.75 distribution follow the book's formulas (the C tool and gensim
keep sqrt(t/f) + t/f of a word instead of sqrt(t/f), a little more of the mid-frequency
words). Drawing them as whole arrays from one seeded generator per chunk (PTB: one chunk per
epoch) keeps the data side to about 0.1 s per PTB epoch and makes every chunk reproducible on
its own.
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


def context_pairs(ids: np.ndarray, offsets: np.ndarray, window: int, rng: np.random.Generator,
                  by_centre: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (centre, context) pairs of one epoch as (centre ids, context ids, centre positions).

    Each centre token draws its window size b uniformly from 1..window and pairs with the
    tokens at distance <= b inside its own sentence, so near words are used more often than
    far ones (the C tool's weighting). Pairs come grouped by distance (-1, +1, -2, +2, ...),
    each group in order of position (skip-gram with negative sampling shuffles them), or with
    `by_centre` grouped by `positions`, the centre's index in `ids`, each centre's contexts in
    that order of distance (CBOW and hierarchical softmax train a centre's contexts together).
    Both orders come from one [tokens, 2 * window] table of which distances each token reaches.
    """
    n = ids.size
    half = draw_window_sizes(n, window, rng)
    sentence = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    position = np.arange(n)
    before, after = position - offsets[sentence], offsets[sentence + 1] - 1 - position
    distance = np.tile([-1, 1], window) * np.repeat(np.arange(1, window + 1), 2)
    reaches = np.empty((n, distance.size), dtype=bool)
    for slot, d in enumerate(distance.tolist()):  # a column at a time: no [tokens, 2 * window] temporaries
        reaches[:, slot] = (half >= abs(d)) & ((before if d < 0 else after) >= abs(d))
    if by_centre:
        centre_positions, slot = np.nonzero(reaches)
    else:
        slot, centre_positions = np.nonzero(np.ascontiguousarray(reaches.T))
    return ids[centre_positions], ids[centre_positions + distance[slot]], centre_positions


def draw_window_sizes(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """One window size per centre token, uniform on 1..window."""
    return rng.integers(1, window + 1, size=n)


class NoiseSampler:
    """Noise words drawn with P(w) proportional to count(w)^power (0.75: the paper's choice).

    The power flattens the unigram distribution so that rarer words are used as negatives
    more often than their frequency alone would give. Sampling uses Walker's alias table: two
    uniform draws and one comparison per sample, exact, and twice as fast as a binary search
    of the cumulative table for PTB's 10k words.
    """

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        weights = np.asarray(counts, dtype=np.float64) ** power
        if weights.size == 0 or not weights.sum() > 0:
            raise ValueError("noise distribution needs at least one word with a positive count")
        self.probabilities = weights / weights.sum()
        self._accept, self._alias = _alias_table(self.probabilities)

    def sample(self, shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Noise word ids of the given shape."""
        column = rng.integers(0, self._accept.size, size=shape)
        accepted = rng.random(shape) < self._accept[column]
        return np.where(accepted, column, self._alias[column])


def _alias_table(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias method: column i keeps word i with probability accept[i], else alias[i]."""
    n = probabilities.size
    scaled = probabilities * n
    accept = np.ones(n)
    alias = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        lo, hi = small.pop(), large.pop()
        accept[lo], alias[lo] = scaled[lo], hi
        scaled[hi] -= 1.0 - scaled[lo]
        (small if scaled[hi] < 1.0 else large).append(hi)
    return accept, alias  # leftovers keep accept = 1 (rounding residue)
