"""fastText's subwords: a word is `<word>` plus its character n-grams, each hashed into buckets.

Two jobs live here, both numpy only (so `d2l embed` never imports torch): mapping words to
rows (`SubwordScheme`, used to train) and embedding any word, seen or not, from the trained
n-gram rows (`SubwordVectors`, saved next to a fastText run's `vectors.txt`).

The scheme is fastText's own, so that the row of an n-gram here is the row fastText would use:
n-grams of min_n..max_n characters (code points, not bytes) of `<word>`, in order of start
position then length; the whole `<word>` counts too when it is short enough; repeated n-grams
stay repeated. Each n-gram's UTF-8 bytes are hashed with 32-bit FNV-1a, every byte
sign-extended first as fastText's C++ `uint32_t(int8_t(c))` does: bytes >= 0x80 enter as
0xFFFFFFxx. That differs from textbook FNV-1a for non-ASCII text, but keeps bucket ids
identical to fastText's (and gensim's, which copies the quirk), so tables stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
BOW, EOW = "<", ">"
COMBINES = ("mean", "sum")
"""How a word's input vector is made from its rows (the fastText tool: the mean)."""


def char_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The character n-grams of `<word>`, exactly as fastText's `computeSubwords` lists them.

    A lone `<` or `>` is never an n-gram (it only matters when min_n is 1).
    """
    marked = BOW + word + EOW
    return [marked[i:i + n] for i in range(len(marked)) for n in range(min_n, min(max_n, len(marked) - i) + 1)
            if not (n == 1 and (i == 0 or i + n == len(marked)))]


def fnv1a_hashes(strings: Sequence[str]) -> np.ndarray:
    """fastText's hash of each string's UTF-8 bytes, as uint32; vectorised over the strings.

    The loop runs over byte positions (at most 4 x max_n), not over strings.
    """
    encoded = [s.encode("utf-8") for s in strings]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    width = int(lengths.max(initial=0))
    hashes = np.full(len(encoded), FNV_OFFSET, dtype=np.uint32)
    if width == 0:
        return hashes
    padded = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)
    # int8 then int32 sign-extends bytes >= 0x80; the uint32 view keeps those bits.
    signed = padded.view(np.int8).astype(np.int32).view(np.uint32)
    for position in range(width):
        active = lengths > position
        mixed = (hashes[active] ^ signed[active, position]) * np.uint32(FNV_PRIME)  # wraps mod 2**32
        hashes[active] = mixed
    return hashes


@dataclass(frozen=True)
class SubwordScheme:
    """Where a word's vectors live in an input table of `vocab_size + buckets` rows.

    Row i is vocabulary word i's own row; an n-gram's row is vocab_size + hash % buckets, so
    words that share n-grams share rows, and unseen words still have n-gram rows.
    """

    vocab_size: int
    buckets: int
    min_n: int
    max_n: int

    def buckets_of(self, ngrams: Sequence[str]) -> np.ndarray:
        """Bucket (0..buckets-1) of each n-gram, as int64."""
        return (fnv1a_hashes(ngrams) % np.uint32(self.buckets)).astype(np.int64)

    def ngram_ids(self, word: str) -> list[int]:
        """Input-table rows of the word's n-grams (without its own row)."""
        return (self.vocab_size + self.buckets_of(char_ngrams(word, self.min_n, self.max_n))).tolist()

    def table(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """CSR rows of a vocabulary: word i uses `ids[offsets[i]:offsets[i+1]]`, its own row i
        first, then its n-gram rows (fastText's `getSubwords` order). All n-grams of all
        words are hashed in one vectorised call."""
        if len(words) != self.vocab_size:
            raise ValueError(f"the scheme is for {self.vocab_size} words, got {len(words)}")
        grams = [char_ngrams(word, self.min_n, self.max_n) for word in words]
        counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams)) + 1
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        ids = np.empty(offsets[-1], dtype=np.int64)
        ids[offsets[:-1]] = np.arange(len(words))
        is_ngram = np.ones(ids.size, dtype=bool)
        is_ngram[offsets[:-1]] = False
        ids[is_ngram] = self.vocab_size + self.buckets_of([g for word_grams in grams for g in word_grams])
        return offsets, ids


class SubwordVectors:
    """The trained n-gram rows of a fastText run; calling it embeds any word from its n-grams.

    Only the buckets some vocabulary word uses are kept (`bucket_ids`, sorted, with their
    `rows`): no other bucket ever receives a gradient. fastText leaves those at their small
    random initial values; here they count as zero, so they add nothing to a vector where
    fastText would add noise. An unseen word's vector is the mean (or sum, as trained) over
    all its n-grams, as fastText's `getWordVector` computes it.
    """

    def __init__(self, buckets: int, min_n: int, max_n: int, combine: str, bucket_ids: np.ndarray,
                 rows: np.ndarray) -> None:
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        if bucket_ids.shape != rows.shape[:1] or rows.ndim != 2:
            raise ValueError(f"{bucket_ids.shape[0]} bucket ids for rows of shape {rows.shape}")
        self.scheme = SubwordScheme(0, buckets, min_n, max_n)
        self.combine = combine
        self.bucket_ids = np.asarray(bucket_ids, dtype=np.int64)
        self.rows = np.asarray(rows, dtype=np.float32)

    def __call__(self, word: str) -> np.ndarray:
        """The vector of a word from its n-gram rows alone (the `WordVectors.oov_vector` hook)."""
        ngrams = char_ngrams(word, self.scheme.min_n, self.scheme.max_n)
        found = self._stored_rows(self.scheme.buckets_of(ngrams))
        if found.size == 0:
            raise UserError(f"word {word!r} is not in the vocabulary and none of its character "
                            f"{self.scheme.min_n}-{self.scheme.max_n}-grams occurred in training")
        vector = self.rows[found].sum(axis=0)
        return vector / len(ngrams) if self.combine == "mean" else vector

    def _stored_rows(self, buckets: np.ndarray) -> np.ndarray:
        """Indices into `rows` of those buckets that were trained (each repeat kept)."""
        if self.bucket_ids.size == 0:
            return np.empty(0, dtype=np.int64)
        where = np.minimum(np.searchsorted(self.bucket_ids, buckets), self.bucket_ids.size - 1)
        return where[self.bucket_ids[where] == buckets]

    def save(self, path: str | Path) -> None:
        """Write an `.npz` atomically: a killed run never leaves half a table behind."""
        from d2l_lab.files import atomic_write

        meta = np.array([self.scheme.buckets, self.scheme.min_n, self.scheme.max_n], dtype=np.int64)
        atomic_write(path, lambda f: np.savez(f, meta=meta, combine=np.array(self.combine),
                                              bucket_ids=self.bucket_ids, rows=self.rows))

    @classmethod
    def load(cls, path: str | Path) -> SubwordVectors:
        """Read a table `save` wrote; a damaged or hand-edited one is one UserError, never a
        traceback or neighbours computed from nonsense (NaN rows, unsorted ids, min_n > max_n)."""
        import zipfile

        try:
            if not zipfile.is_zipfile(path):
                raise ValueError("not an .npz archive")
            with np.load(path, allow_pickle=False) as data:
                meta, combine = data["meta"], data["combine"]
                bucket_ids, rows = data["bucket_ids"], data["rows"]
                problem = _table_problem(meta, bucket_ids, rows)
                if problem is None:
                    buckets, min_n, max_n = (int(v) for v in meta)
                    return cls(buckets, min_n, max_n, str(combine), bucket_ids, rows)
        except (OSError, KeyError, ValueError, TypeError, EOFError) as exc:
            problem = str(exc)
        raise UserError(f"cannot read subword table {path} ({clip(problem, 120)}); the run directory may be "
                        "incomplete or edited: re-run or resume it")


def _table_problem(meta: np.ndarray, bucket_ids: np.ndarray, rows: np.ndarray) -> str | None:
    """What makes a loaded table unusable, or None."""
    if meta.shape != (3,) or meta.dtype.kind not in "iu":
        return f"meta must be 3 whole numbers (buckets, min_n, max_n), got shape {meta.shape} of {meta.dtype}"
    buckets, min_n, max_n = (int(v) for v in meta)
    if buckets < 1 or not 1 <= min_n <= max_n:
        return f"meta needs buckets >= 1 and 1 <= min_n <= max_n, got {buckets}, {min_n}, {max_n}"
    if bucket_ids.ndim != 1 or bucket_ids.dtype.kind not in "iu":
        return f"bucket_ids must be a list of whole numbers, got shape {bucket_ids.shape} of {bucket_ids.dtype}"
    if bucket_ids.size and (np.any(np.diff(bucket_ids) <= 0) or bucket_ids[0] < 0 or bucket_ids[-1] >= buckets):
        return f"bucket_ids must be increasing and within 0..{buckets - 1}"
    if rows.ndim != 2 or rows.dtype.kind != "f" or rows.shape[0] != bucket_ids.size:
        return f"rows must be {bucket_ids.size} float vectors, got shape {rows.shape} of {rows.dtype}"
    if not np.isfinite(rows).all():
        return "rows hold NaN or infinite values"
    return None
