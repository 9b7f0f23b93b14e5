"""Facebook's fastText binary models (`.bin`): their vocabulary, and any word embedded from its
character n-grams, as fastText's `get_word_vector` and gensim's `load_facebook_vectors` do.

The layout (fastText's `FastText::saveModel`, versions 11 and 12; all little-endian):

    magic 793712314 (int32) | version (int32)
    | args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate (int32), t (float64)
    | dictionary: size nwords nlabels (int32), ntokens (int64), pruneidx_size (int64),
      size x (word UTF-8, NUL, count int64, entry type int8), pruneidx_size x (int32, int32)
    | quant_input (bool) | input matrix: rows cols (int64), rows x cols float32
    | qout (bool) | output matrix: rows cols (int64), rows x cols float32

The input matrix holds the nwords word rows, then `bucket` n-gram rows. It is memory-mapped, one
array at its offset, never read row by row: a 2M-word model opens in the time its dictionary takes
to walk. Every size is checked against the file's before anything is allocated, and the sizes must
add up to exactly the file's length, so a truncated download is one error, not a misread model.
Quantized (`.ftz`) and supervised models hold no such matrix and are refused, as gensim refuses them.

A vocabulary word's vector is the mean of its own row and its n-gram rows (fastText's
`getWordVector`; gensim's `adjust_vectors`), except `</s>`, the end-of-sentence token, which
fastText trains without n-grams and so embeds as its row alone (gensim adds n-grams to it too: the
one place the two differ). Any other word is the mean of its n-gram rows (`subwords.char_ngrams`,
hashed as fastText hashes them), the zero vector when it has none.
"""

from __future__ import annotations

import gzip
import mmap
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from d2l_lab.embeddings.subwords import SubwordScheme
from d2l_lab.embeddings.vector_rows import MAX_WORD_BYTES
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

MAGIC = 793712314
VERSIONS = (11, 12)
"""The versions written with this magic (fastText 0.1 onwards); gensim reads the same layout."""
EOS = "</s>"
MAX_DIM = 1 << 16
MAX_NGRAM = 64
"""Far above any real model's maxn (fastText's default is 6); n-grams longer are a damaged header."""

_PREFIX = struct.Struct("<ii")
_MAGIC_BYTES = struct.pack("<i", MAGIC)
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<iiiqq")
_MATRIX = struct.Struct("<?qq")  # the quantized flag, then rows and columns
_ENTRY_TAIL = 9  # after a word's NUL: its count (int64) and entry type (int8)
_ROWS_AT_ONCE = 2048  # vocabulary words composed at a time: a few MB of gathered n-gram rows


class Header(NamedTuple):
    """What the model's arguments say about its vectors (the rest are training settings)."""

    dim: int
    bucket: int
    minn: int
    maxn: int
    nwords: int


def is_fasttext_bin(path: Path) -> bool:
    """Whether `path` starts as a fastText model does; a gzipped one is refused here, naming the fix
    (its matrix is read memory-mapped, which a compressed file cannot be)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                with gzip.open(f) as unzipped:
                    if unzipped.read(4) == _MAGIC_BYTES:
                        raise UserError(f"{path} is a gzipped fastText model; decompress it first (gunzip -k "
                                        f"{path}) and give the .bin: its matrix is read memory-mapped")
                return False
    except (OSError, EOFError):  # unreadable, or damaged gzip: the vectors reader says what is wrong
        return False
    return head == _MAGIC_BYTES


def load_fasttext_bin(path: str | Path, limit: int | None = None, warn: Callable[[str], None] | None = None,
                      progress: Progress | None = None) -> WordVectors:
    """The model's vocabulary (its first `limit` words, the most frequent, when given) with fastText's
    vectors, and an `oov_vector` embedding any other word from its n-grams."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        raise UserError(f"cannot read {path} as a fastText model ({exc}); check the path and that the file is "
                        "complete") from None
    header, words, matrix_at = _read_dictionary(view, path, warn)
    rows = _input_matrix(view, path, header, matrix_at)
    kept = words if limit is None else words[:limit]
    embed = NgramVectors(rows, header, words)
    matrix = np.empty((len(kept), header.dim), dtype=np.float32)
    for start in range(0, len(kept), _ROWS_AT_ONCE):
        block = kept[start:start + _ROWS_AT_ONCE]
        matrix[start:start + len(block)] = embed.vocabulary_block(start, block)
        if progress is not None:
            progress((start + len(block)) * header.dim * 4, len(kept) * header.dim * 4)
    if not np.isfinite(matrix).all():
        bad = kept[int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])]
        raise UserError(f"{path}: the vector of {bad!r} holds NaN or infinite values; the model is damaged: "
                        "re-download it")
    return WordVectors(kept, matrix, oov_vector=embed if embed.subwords else None)


class NgramVectors:
    """fastText's word vectors over a model's input matrix: `vocabulary_block` for the vocabulary,
    in blocks, and calling it for any one word (the `WordVectors.oov_vector` hook), so a word of
    the model's vocabulary left out by a limit still gets its own row."""

    def __init__(self, rows: np.ndarray, header: Header, words: list[str]) -> None:
        self.rows, self.header = rows, header
        self.subwords = header.bucket > 0 and header.maxn > 0
        self.scheme = SubwordScheme(header.nwords, max(header.bucket, 1), header.minn, header.maxn)
        self.index = dict(zip(words, range(len(words))))

    def vocabulary_block(self, start: int, words: list[str]) -> np.ndarray:
        """Vectors of vocabulary words `start`, `start + 1`, ...: each the mean of its own row and
        its n-gram rows, summed in fastText's order (own row first, then each n-gram in turn).

        The k-th rows of all words are added at once: with the words sorted by their number of
        rows, those that have a k-th row are a prefix, so each step is one gather and one in-place
        add (4x faster than `np.add.reduceat` over all the gathered rows)."""
        if not self.subwords:
            return np.array(self.rows[start:start + len(words)])
        offsets, ids = SubwordScheme(len(words), self.header.bucket, self.header.minn, self.header.maxn).table(words)
        is_ngram = ids >= len(words)
        ids[is_ngram] += self.header.nwords - len(words)  # the table numbers n-gram rows after this block's words
        ids[~is_ngram] += start
        counts = np.diff(offsets)
        if EOS in words:  # fastText gives the end-of-sentence token no n-grams
            counts[words.index(EOS)] = 1
        order = np.argsort(-counts, kind="stable")
        firsts, descending = offsets[:-1][order], counts[order]
        sums = self.rows[ids[firsts]]
        for k in range(1, int(descending[0]) if len(words) else 0):
            having = int(np.count_nonzero(descending > k))
            # Indexing, not np.take: the matrix sits at any byte offset, and take copies unaligned arrays whole.
            sums[:having] += self.rows[ids[firsts[:having] + k]]
        sums /= descending[:, None].astype(np.float32)
        vectors = np.empty_like(sums)
        vectors[order] = sums
        return vectors

    def __call__(self, word: str) -> np.ndarray:
        """fastText's vector of any word: its own row (when in the model's vocabulary) averaged with
        its n-gram rows; the zero vector for an unknown word with no n-gram."""
        ids = self.scheme.ngram_ids(word) if self.subwords and word != EOS else []
        if (found := self.index.get(word)) is not None:
            ids.insert(0, found)
        if not ids:
            return np.zeros(self.header.dim, dtype=np.float32)
        vector = self.rows[ids].sum(axis=0) / len(ids)
        if not np.isfinite(vector).all():
            raise UserError(f"the n-gram rows of {word!r} hold NaN or infinite values; the model is damaged: "
                            "re-download it")
        return vector


def _read_dictionary(view: mmap.mmap, path: Path, warn: Callable[[str], None] | None,
                     ) -> tuple[Header, list[str], int]:
    """The header, the vocabulary's words and where the input matrix starts, every size checked."""
    size = len(view)
    fixed = _PREFIX.size + _ARGS.size + _DICTIONARY.size
    if size < _PREFIX.size or _PREFIX.unpack_from(view)[0] != MAGIC:
        raise UserError(f"{path} is not a fastText binary model (it does not start with fastText's magic number); "
                        "give a .bin saved by fastText or gensim's save_facebook_model")
    if size < fixed:
        raise _truncated(path, size, fixed)
    version = _PREFIX.unpack_from(view)[1]
    if version not in VERSIONS:
        raise UserError(f"{path}: fastText model format version {version} is not supported (only "
                        f"{' and '.join(map(str, VERSIONS))}); re-save it with a current fastText")
    dim, _ws, _epoch, _min_count, _neg, _word_ngrams, _loss, model, bucket, minn, maxn, _lr_rate, _t = \
        _ARGS.unpack_from(view, _PREFIX.size)
    entries, nwords, nlabels, _ntokens, pruned = _DICTIONARY.unpack_from(view, _PREFIX.size + _ARGS.size)
    if nlabels or model == 3:
        raise UserError(f"{path} is a supervised (classification) fastText model, which holds no word vectors to "
                        "query; give an unsupervised (skipgram or cbow) model")
    problem = (f"dimension {dim} is not within 1..{MAX_DIM}" if not 1 <= dim <= MAX_DIM else
               f"bucket count {bucket:,} is negative" if bucket < 0 else
               f"n-gram lengths minn {minn}, maxn {maxn} are not 0 <= minn <= maxn <= {MAX_NGRAM}"
               if not 0 <= minn <= maxn <= MAX_NGRAM else
               f"{entries:,} dictionary entries but {nwords:,} words" if entries != nwords or nwords < 1 else None)
    if problem is not None:
        raise UserError(f"{path}: the header is damaged ({problem}); re-download the model")
    if fixed + nwords * (2 + _ENTRY_TAIL) > size:  # each word takes at least a byte, its NUL and its tail
        raise _truncated(path, size, fixed + nwords * (2 + _ENTRY_TAIL))
    if pruned > 0:
        raise _quantized(path)
    words, at = _words(view, path, nwords, fixed, warn)
    # fastText's n-grams start at one character: minn 0 (its supervised default) counts as 1
    return Header(dim, bucket, max(minn, 1), maxn, nwords), words, at


def _words(view: mmap.mmap, path: Path, count: int, at: int, warn: Callable[[str], None] | None,
           ) -> tuple[list[str], int]:
    """The dictionary's words, walked entry by entry (each ends where its NUL is, within
    `MAX_WORD_BYTES`), and where the dictionary ends. Undecodable bytes are kept as backslash
    escapes, as gensim keeps them."""
    words: list[str] = []
    garbled = 0
    find, size = view.find, len(view)
    for number in range(1, count + 1):
        end = find(b"\0", at, at + MAX_WORD_BYTES + 1)
        if end < 0 or end + _ENTRY_TAIL >= size:
            if end < 0 and size - at > MAX_WORD_BYTES:
                raise UserError(f"{path}: dictionary entry {number:,} is not a word (no end within "
                                f"{MAX_WORD_BYTES:,} bytes); the model is damaged: re-download it")
            raise _truncated(path, size, None)
        if view[end + _ENTRY_TAIL] != 0:
            raise UserError(f"{path}: dictionary entry {number:,} is not a word (entry type "
                            f"{view[end + _ENTRY_TAIL]}); give an unsupervised fastText model")
        raw = view[at:end]
        try:
            words.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            words.append(raw.decode("utf-8", "backslashreplace"))
            garbled += 1
        at = end + 1 + _ENTRY_TAIL
    if garbled and warn is not None:
        warn(f"{path}: {garbled:,} word(s) are not valid UTF-8; their bad bytes are kept as \\x escapes, "
             "as gensim keeps them")
    return words, at


def _input_matrix(view: mmap.mmap, path: Path, header: Header, at: int) -> np.ndarray:
    """The input matrix, memory-mapped, once its shape and the output matrix's add up to the file."""
    size = len(view)
    if at + _MATRIX.size > size:
        raise _truncated(path, size, at + _MATRIX.size)
    quantized, rows, cols = _MATRIX.unpack_from(view, at)
    if quantized:
        raise _quantized(path)
    if rows != header.nwords + header.bucket or cols != header.dim:
        raise UserError(f"{path}: the input matrix is {rows:,} x {cols:,} but the header promises "
                        f"{header.nwords:,} words + {header.bucket:,} buckets x {header.dim}; the model is damaged: "
                        "re-download it")
    matrix_at = at + _MATRIX.size
    output_at = matrix_at + 4 * rows * cols
    if output_at + _MATRIX.size > size:
        raise _truncated(path, size, output_at + _MATRIX.size)
    quantized_out, out_rows, out_cols = _MATRIX.unpack_from(view, output_at)
    if quantized_out:
        raise _quantized(path)
    end = output_at + _MATRIX.size + 4 * out_rows * out_cols
    if out_rows < 0 or out_cols != header.dim or end != size:
        if out_rows >= 0 and out_cols == header.dim and end > size:
            raise _truncated(path, size, end)
        raise UserError(f"{path}: the file is {size:,} bytes but its matrices end at byte {end:,}; the model is "
                        "damaged: re-download it")
    return np.frombuffer(view, dtype="<f4", count=rows * cols, offset=matrix_at).reshape(rows, cols)


def _truncated(path: Path, size: int, needed: int | None) -> UserError:
    promise = "" if needed is None else f" but its header promises at least {needed:,}"
    return UserError(f"{path} is a truncated fastText model (the file is {size:,} bytes{promise}); re-download it")


def _quantized(path: Path) -> UserError:
    return UserError(f"{path} is a quantized fastText model (.ftz), whose vectors are compressed codes; "
                     "give the full .bin model")
