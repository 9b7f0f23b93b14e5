"""GloVe's input: the sparse, symmetric word-word co-occurrence counts x_ij of a corpus.

Counted as the GloVe tool (`cooccur -symmetric 1`) does: two tokens of the same sentence at
distance d <= window add 1/d to both x_ij and x_ji, so near words weigh more than far ones.
Tokens dropped from the vocabulary are already gone from `ids`, so windows reach over them, as
the tool skips out-of-vocabulary words. The loop runs over chunks of a million tokens (read from
the corpus's memory map), then distances and position blocks, never over tokens, and partial
sums are merged into sorted unique keys `i * V + j` after each block, so memory stays linear in
the number of non-zero pairs, whatever the corpus length: no dense V x V matrix is ever made.

Counting PTB takes seconds, so the result is cached on disk, keyed by what determines it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2l_lab.cache import default_cache_dir
from d2l_lab.files import atomic_write

CACHE_FORMAT = 1
"""Bump when the counting rule or the file layout changes, so old cache files are ignored."""
_BLOCK = 1 << 22  # positions paired at once
_MERGE_AT_LEAST = 1 << 20
"""Pending pairs are merged into the running totals once there are this many, or as many as
totals: a merge's temporaries stay a few times the number of non-zero pairs, and the cost of
re-sorting the totals is spread over as many new pairs. Merging sooner or later changes no sum:
each merge adds a key's old total first and then its new weights in order, one at a time
(`np.bincount`), so every total is the same sequence of additions however the pairs are merged."""
_CHUNK = 1 << 20
"""Corpus tokens read at a time (from a memory map, as int64), whatever the corpus: PTB is one
chunk, so its counts are summed in the same order as before chunks existed."""


@dataclass(frozen=True)
class Cooccurrences:
    """Non-zero x_ij as coordinate arrays sorted by (row, col); both (i, j) and (j, i) present."""

    rows: np.ndarray  # int64 [nnz]
    cols: np.ndarray  # int64 [nnz]
    values: np.ndarray  # float64 [nnz], sums of 1/d
    vocab_size: int

    @property
    def nnz(self) -> int:
        return int(self.values.size)


def count_cooccurrences(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int) -> Cooccurrences:
    """x_ij over a symmetric window of `window` tokens inside each sentence, weighted 1/distance.

    `ids`/`offsets` are `Vocab.encode`'s output: flat word ids and sentence starts (plus a final
    `len(ids)`). Each unordered pair is counted once under the key min*V+max and mirrored at the
    end, which halves the sorting; a word next to itself gets 2/d on the diagonal, as in the tool.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    ids, offsets = np.asarray(ids), np.asarray(offsets)  # a memory map stays one
    if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != ids.size:
        raise ValueError("offsets must start at 0 and end at len(ids)")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"word ids must lie in 0..{vocab_size - 1}")
    keys = np.empty(0, dtype=np.int64)
    sums = np.empty(0, dtype=np.float64)
    pending_keys: list[np.ndarray] = []
    pending_weights: list[np.ndarray] = []
    pending = 0
    for lo in range(0, max(ids.size, 1), _CHUNK):
        # Left tokens lo..hi-1, and their right partners up to `window` tokens further.
        hi, reach = min(lo + _CHUNK, ids.size), min(lo + _CHUNK + window, ids.size)
        chunk = np.asarray(ids[lo:reach], dtype=np.int64)
        sentence_end = _sentence_ends(offsets, lo, reach) - lo  # end of each token's sentence
        for d in range(1, window + 1):
            limit = min(hi - lo, reach - lo - d)
            for start in range(0, max(limit, 0), _BLOCK):
                left = np.arange(start, min(start + _BLOCK, limit))
                left = left[left + d < sentence_end[left]]  # both tokens in the same sentence
                a, b = chunk[left], chunk[left + d]
                pending_keys.append(np.minimum(a, b) * vocab_size + np.maximum(a, b))
                pending_weights.append(np.full(left.size, 1.0 / d))
                pending += left.size
                if pending >= max(_MERGE_AT_LEAST, keys.size):
                    keys, sums = _merge(keys, sums, pending_keys, pending_weights)
                    pending_keys, pending_weights, pending = [], [], 0
    keys, sums = _merge(keys, sums, pending_keys, pending_weights)
    return _mirror(keys, sums, vocab_size)


def _sentence_ends(offsets: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """For each token position lo..hi-1, the start of the next sentence (its sentence's end)."""
    first = max(int(np.searchsorted(offsets, lo, side="right")) - 1, 0)
    last = int(np.searchsorted(offsets, hi, side="left")) + 1
    starts = np.asarray(offsets[first:last], dtype=np.int64)
    return starts[np.searchsorted(starts, np.arange(lo, hi), side="right")]


def _merge(keys: np.ndarray, sums: np.ndarray, new_keys: list[np.ndarray],
           new_weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with their summed weights, old totals and new pairs together."""
    if not new_keys:
        return keys, sums
    unique, inverse = np.unique(np.concatenate([keys, *new_keys]), return_inverse=True)
    return unique, np.bincount(inverse.reshape(-1), weights=np.concatenate([sums, *new_weights]),
                               minlength=unique.size)


def _mirror(keys: np.ndarray, sums: np.ndarray, vocab_size: int) -> Cooccurrences:
    """Unordered-pair totals to the symmetric matrix: x_ij = x_ji, and x_ii doubled."""
    low, high = np.divmod(keys, vocab_size)
    off = low != high
    rows = np.concatenate([low, high[off]])
    cols = np.concatenate([high, low[off]])
    values = np.concatenate([np.where(off, sums, 2.0 * sums), sums[off]])
    order = np.lexsort((cols, rows))
    return Cooccurrences(rows[order], cols[order], values[order], vocab_size)


def vocab_fingerprint(words: Sequence[str], counts: np.ndarray) -> str:
    """sha1 of the word list and counts: changes with the corpus, min_count or the tie order."""
    digest = hashlib.sha1("\n".join(words).encode("utf-8"))
    digest.update(b"\0")
    digest.update(np.ascontiguousarray(counts, dtype="<i8").tobytes())
    return digest.hexdigest()


def cooccurrence_cache_key(corpus_checksum: str, words: Sequence[str], counts: np.ndarray, window: int) -> str:
    """The cache file name stem: everything that determines the counts, hashed."""
    parts = f"{CACHE_FORMAT}|{corpus_checksum}|{vocab_fingerprint(words, counts)}|window={window}"
    return hashlib.sha1(parts.encode("utf-8")).hexdigest()


def cooccurrences(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int,
                  cache_key: str | None = None, cache_dir: Path | None = None) -> Cooccurrences:
    """`count_cooccurrences`, read from / written to `<cache_dir>/cooccurrence/<cache_key>.npz`.

    No key means no cache. A file that is unreadable or was made for another vocabulary size or
    window is recounted and replaced; files are written atomically, so concurrent runs are safe.
    """
    if cache_key is None:
        return count_cooccurrences(ids, offsets, vocab_size, window)
    path = (cache_dir or default_cache_dir()) / "cooccurrence" / f"{cache_key}.npz"
    cached = _load(path, vocab_size, window)
    if cached is not None:
        return cached
    result = count_cooccurrences(ids, offsets, vocab_size, window)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: _save(f, result, window))
    return result


def _save(f: io.BufferedIOBase, cooc: Cooccurrences, window: int) -> None:
    np.savez(f, rows=cooc.rows, cols=cooc.cols, values=cooc.values,
             vocab_size=np.int64(cooc.vocab_size), window=np.int64(window))


def _load(path: Path, vocab_size: int, window: int) -> Cooccurrences | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["vocab_size"]) != vocab_size or int(data["window"]) != window:
                return None
            return Cooccurrences(data["rows"], data["cols"], data["values"], vocab_size)
    except (OSError, KeyError, ValueError, EOFError):  # missing, truncated or foreign file
        return None
