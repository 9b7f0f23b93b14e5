"""GloVe's input: the sparse, symmetric word-word co-occurrence counts x_ij of a corpus.

Counted as the GloVe tool (`cooccur -symmetric 1`) does: two tokens of the same sentence at
distance d <= window add 1/d to both x_ij and x_ji, so near words weigh more than far ones.
Tokens dropped from the vocabulary are already gone from `ids`, so windows reach over them, as
the tool skips out-of-vocabulary words. The loop runs over chunks of a million tokens (read from
the corpus's memory map), then distances and position blocks, never over tokens. Pairs are
merged into sorted unique keys `i * V + j` as they come; when those totals pass a fixed size
they are written to a sorted shard on disk and counting starts afresh, and the shards are merged
at the end a block of keys at a time, as the tool's `cooccur -memory` does. So counting needs
memory for a bounded number of pairs, whatever the corpus length: no dense V x V matrix is made.

The result (16 bytes per non-zero x_ij) is streamed to a file in the cache (`cooccurrence_file`),
keyed by what determines it, which GloVe reads a block at a time; PPMI-SVD loads it whole.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from d2l_lab.cache import default_cache_dir
from d2l_lab.embeddings.cooccurrence_file import Entries, EntriesFile, open_entries, records_of, write_entries
from d2l_lab.files import atomic_write

CACHE_FORMAT = 2
"""Bump when the counting rule or the file layout changes, so old cache files are ignored."""
_BLOCK = 1 << 19
"""Positions paired at once: a yield of at most 1M directed pairs, so that pending pairs never
much exceed `_MERGE_AT_MOST` (sums do not depend on it)."""
_MERGE_AT_LEAST = 1 << 20
"""Pending pairs are merged into the running totals once there are this many, or as many as
totals: a merge's temporaries stay a few times the number of non-zero pairs, and the cost of
re-sorting the totals is spread over as many new pairs, up to `_MERGE_AT_MOST`. Merging sooner or later changes no sum:
each merge adds a key's old total first and then its new weights in order, one at a time
(`np.bincount`), so every total is the same sequence of additions however the pairs are merged."""
_MERGE_AT_MOST = 1 << 20
"""The most pending pairs a merge waits for, so that a merge's temporaries stay bounded (a few
times `_SPILL_AT` + this) however large the totals grow."""
_CHUNK = 1 << 20
"""Corpus tokens read at a time (from a memory map, as int64), whatever the corpus: PTB is one
chunk, so its counts are summed in the same order as before chunks existed."""
_SPILL_AT = 3_000_000
"""Distinct pairs held in memory (16 bytes each, plus a merge's temporaries) before they are
written to a shard on disk; PTB (2.9M pairs at window 10) stays under it, and so do its copies.
A constant, not a setting, so a corpus's counts are always the same bits: a spilled total is its
shards' totals added in shard order, which can differ in the last bit from the sum of all its
weights in order."""
_MERGE_BLOCK = 1 << 22
"""Shard entries merged at once at the end."""


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

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Entries lo..hi-1 as `cooccurrence_file.RECORD`s, as a file of them is read."""
        return records_of(self.rows[lo:hi], self.cols[lo:hi], self.values[lo:hi])


def count_cooccurrences(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int,
                        spill_dir: Path | None = None) -> Cooccurrences:
    """x_ij over a symmetric window of `window` tokens inside each sentence, weighted 1/distance,
    in memory (`counted_blocks` says how they are counted)."""
    keys, sums = [], []
    for block_keys, block_sums in counted_blocks(ids, offsets, vocab_size, window, spill_dir):
        keys.append(block_keys)
        sums.append(block_sums)
    rows, cols = np.divmod(np.concatenate(keys), vocab_size)
    return Cooccurrences(rows, cols, np.concatenate(sums), vocab_size)


def counted_blocks(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int,
                   spill_dir: Path | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The non-zero x_ij as consecutive blocks of sorted keys i*V+j and their totals.

    `ids`/`offsets` are `Vocab.encode`'s output: flat word ids and sentence starts (plus a final
    `len(ids)`). Each pair at distance d adds 1/d under key i*V+j and under j*V+i, one right after
    the other, so both totals are the same sequence of additions; a word next to itself adds 2/d
    once, as the tool counts it both ways. Totals beyond `_SPILL_AT` keys go to sorted shards in
    `spill_dir` (a temporary directory by default), merged at the end a block of keys at a time;
    a corpus that never spills is one block.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    ids, offsets = np.asarray(ids), np.asarray(offsets)  # a memory map stays one
    if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != ids.size:
        raise ValueError("offsets must start at 0 and end at len(ids)")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"word ids must lie in 0..{vocab_size - 1}")
    with tempfile.TemporaryDirectory(prefix="d2l-cooccur-", dir=spill_dir) as scratch:
        shards: list[Path] = []
        keys = np.empty(0, dtype=np.int64)
        sums = np.empty(0, dtype=np.float64)
        pending_keys: list[np.ndarray] = []
        pending_weights: list[np.ndarray] = []
        pending = 0
        for new_keys, new_weights in _directed_pairs(ids, offsets, vocab_size, window):
            pending_keys.append(new_keys)
            pending_weights.append(new_weights)
            pending += new_keys.size
            if pending >= max(_MERGE_AT_LEAST, min(keys.size, _MERGE_AT_MOST)):
                keys, sums = _merge(keys, sums, pending_keys, pending_weights)
                pending_keys, pending_weights, pending = [], [], 0
                if keys.size >= _SPILL_AT:
                    shards.append(_write_shard(Path(scratch), len(shards), keys, sums))
                    keys, sums = keys[:0], sums[:0]
        keys, sums = _merge(keys, sums, pending_keys, pending_weights)
        if not shards:
            yield keys, sums
            return
        shards.append(_write_shard(Path(scratch), len(shards), keys, sums))
        del keys, sums
        yield from _merge_shards(shards, vocab_size)


def _directed_pairs(ids: np.ndarray, offsets: np.ndarray, vocab_size: int,
                    window: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Keys i*V+j and weights of every ordered pair, a block of positions at a time: chunks of
    `_CHUNK` tokens, then distances, then blocks of `_BLOCK` positions, never a loop over tokens."""
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
                off = a != b
                both = np.stack([a * vocab_size + b, b * vocab_size + a], axis=1).reshape(-1)
                weights = np.stack([np.where(off, 1.0 / d, 2.0 / d), np.full(a.size, 1.0 / d)], axis=1).reshape(-1)
                keep = np.stack([np.ones_like(off), off], axis=1).reshape(-1)  # i-i once, at 2/d
                yield both[keep], weights[keep]


def _sentence_ends(offsets: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """For each token position lo..hi-1, the start of the next sentence (its sentence's end)."""
    first = max(int(np.searchsorted(offsets, lo, side="right")) - 1, 0)
    last = int(np.searchsorted(offsets, hi, side="left")) + 1
    starts = np.asarray(offsets[first:last], dtype=np.int64)
    return starts[np.searchsorted(starts, np.arange(lo, hi), side="right")]


def _merge(keys: np.ndarray, sums: np.ndarray, new_keys: list[np.ndarray],
           new_weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with their summed weights, old totals and new pairs together.

    `np.unique(..., return_inverse=True)` would give the same inverse with about twice the
    temporaries (a copy, an argsort, a cumulative sum); a sort and a search keep it to two arrays."""
    if not new_keys:
        return keys, sums
    every = np.concatenate([keys, *new_keys])
    ordered = np.sort(every)
    first = np.empty(ordered.size, dtype=bool)
    first[:1], first[1:] = True, ordered[1:] != ordered[:-1]
    unique = ordered[first]
    del ordered, first
    inverse = np.searchsorted(unique, every)
    del every
    return unique, np.bincount(inverse, weights=np.concatenate([sums, *new_weights]), minlength=unique.size)


def _write_shard(directory: Path, number: int, keys: np.ndarray, sums: np.ndarray) -> Path:
    path = directory / f"shard-{number}"
    np.ascontiguousarray(keys, dtype=np.int64).tofile(path.with_suffix(".keys"))
    np.ascontiguousarray(sums, dtype=np.float64).tofile(path.with_suffix(".sums"))
    return path


def _merge_shards(shards: list[Path], vocab_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The shards' totals added key by key, in shard order, at most `_MERGE_BLOCK` entries at a
    time (the GloVe tool's merge of its `cooccur` overflow files). A block is read from the files,
    not through memory maps: the pages of a map a process has read count in its resident memory
    until it is unmapped, which would make the merge's peak grow with the shards' total size."""
    keys = [np.memmap(s.with_suffix(".keys"), dtype=np.int64, mode="r") for s in shards]  # searched only

    def read(suffix: str, dtype: type, lo: list[int], hi: list[int]) -> np.ndarray:
        return np.concatenate([np.fromfile(s.with_suffix(suffix), dtype=dtype, count=b - a, offset=a * 8)
                               for s, a, b in zip(shards, lo, hi)])

    blocks = _merge_blocks(keys, vocab_size * vocab_size)
    del keys  # unmapped: the pages the search touched leave this process's resident memory
    for lo, hi in blocks:
        yield _merge(np.empty(0, dtype=np.int64), np.empty(0), [read(".keys", np.int64, lo, hi)],
                     [read(".sums", np.float64, lo, hi)])


def _merge_blocks(keys: list[np.ndarray], end: int) -> list[tuple[list[int], list[int]]]:
    """Consecutive key ranges, as (start, stop) positions in each sorted shard, holding at most
    `_MERGE_BLOCK` entries in all (a key is in each shard once, so any range can be split)."""

    def below(bound: int) -> list[int]:
        return [int(np.searchsorted(k, bound)) for k in keys]

    blocks = []
    lower, start = 0, [0] * len(keys)
    while lower < end:
        budget = sum(start) + _MERGE_BLOCK
        low, high = lower + 1, end  # the largest bound whose range fits, found by bisection
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if sum(below(middle)) <= budget else (low, middle - 1)
        stop = below(low)
        blocks.append((start, stop))
        lower, start = low, stop
    return blocks


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


def cooccurrence_entries(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int,
                         cache_key: str | None = None, cache_dir: Path | None = None) -> Entries:
    """The counts as a checked entries file `<cache_dir>/cooccurrence/<cache_key>.entries`
    (`cooccurrence_file`), counted and written there, streamed block by block, unless a whole one
    for this vocabulary size and window is there already.

    No key means no cache: counted in memory. So is a cache that refuses the file (a full or
    read-only disk costs memory, not the run). Files are written atomically, so concurrent runs
    are safe, and a truncated or damaged file is counted again and replaced.
    """
    if cache_key is None:
        return count_cooccurrences(ids, offsets, vocab_size, window)
    path = (cache_dir or default_cache_dir()) / "cooccurrence" / f"{cache_key}.entries"
    cached = open_entries(path, vocab_size, window)
    if cached is not None:
        return cached
    counted: list[int] = []

    def write(f: IO[bytes]) -> None:
        blocks = counted_blocks(ids, offsets, vocab_size, window, spill_dir=path.parent)
        counted.append(write_entries(f, (records_of(*np.divmod(k, vocab_size), x) for k, x in blocks),
                                     vocab_size, window))

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError:
        return count_cooccurrences(ids, offsets, vocab_size, window)
    return EntriesFile(path, vocab_size, counted[0])


def cooccurrences(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int,
                  cache_key: str | None = None, cache_dir: Path | None = None) -> Cooccurrences:
    """`cooccurrence_entries`, all in memory (PPMI-SVD factorises the whole matrix)."""
    entries = cooccurrence_entries(ids, offsets, vocab_size, window, cache_key, cache_dir)
    if isinstance(entries, Cooccurrences):
        return entries
    records = entries.read(0, entries.nnz)
    return Cooccurrences(records["row"].astype(np.int64), records["col"].astype(np.int64),
                         records["value"].copy(), vocab_size)
