"""A corpus as the trainers read it, built from a stream of lines in bounded memory and cached.

Two passes over the lines: the first counts every word (`count_vocab`: only the word counts
are held), the second writes the ids of the in-vocabulary tokens as little-endian int32 to one
file and the sentence starts as int64 to another (`encode_lines`), a million tokens at a time.
The trainers then read both files memory-mapped, so the corpus costs the page cache, not the
heap, and no list of strings for the whole corpus is ever made. Both results are cached under
`<cache>/corpus/`, keyed by the corpus checksum and min_count (as the co-occurrence counts are),
so a second run on the same corpus starts training at once; a cached encoding whose ids do not
add up to the vocabulary's counts is encoded again. A fresh encoding that does not add up means
that the corpus changed between the two passes (`datasets.corpus_files.CorpusChanged`; `forget` then
removes what was cached of it).
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import numpy as np

from d2l_lab.cache import default_cache_dir
from d2l_lab.datasets.corpus_files import CorpusChanged
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.files import atomic_write

CACHE_FORMAT = 2
"""Bump when the tokenisation, the vocabulary order or the file layout changes. 2: corpus lines are
NFC (issue 23), so an entry of format 1 may hold one word as two entries."""
ENCODE_BLOCK = 1 << 20
"""Tokens encoded at a time: ~40 MB of temporaries whatever the corpus."""

Lines = Callable[[], Iterable[str]]
"""Starts one pass over the corpus lines (`datasets.corpus.corpus_lines` or `ptb_lines`)."""


def count_vocab(lines: Iterable[str], min_count: int) -> Vocab:
    """The vocabulary of a stream of lines: one pass, holding only the word counts.

    A Counter keeps words in first-seen order, so sorting by count (stably) gives `Vocab`'s
    order: count descending, ties by first occurrence.
    """
    counts: Counter[str] = Counter()
    total = 0
    for line in lines:
        tokens = line.split()
        counts.update(tokens)
        total += len(tokens)
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: -wc[1])
    return Vocab.from_counts([w for w, _ in kept], [c for _, c in kept], min_count, total)


def encode_lines(lines: Iterable[str], vocab: Vocab, ids_out: IO[bytes], offsets_out: IO[bytes]) -> None:
    """Write the in-vocabulary ids of every non-blank line (int32) and the start of each line's
    ids plus a final end (int64), as `Vocab.encode` returns them for a list of sentences."""
    get, missing = vocab.index.get, itertools.repeat(-1)
    buffer: list[int] = []
    lengths: list[int] = []
    written = 0
    offsets_out.write(np.zeros(1, dtype="<i8").tobytes())

    def flush() -> None:
        nonlocal written
        ids = np.array(buffer, dtype=np.int32)
        known = ids >= 0
        sentence_of = np.repeat(np.arange(len(lengths)), lengths)
        kept = np.bincount(sentence_of[known], minlength=len(lengths))
        ids_out.write(ids[known].astype("<i4", copy=False).tobytes())
        offsets_out.write((written + np.cumsum(kept)).astype("<i8").tobytes())
        written += int(kept.sum())
        buffer.clear()
        lengths.clear()

    for line in lines:
        tokens = line.split()
        if tokens:
            buffer.extend(map(get, tokens, missing))
            lengths.append(len(tokens))
            if len(buffer) >= ENCODE_BLOCK:
                flush()
    flush()


def corpus_cache_key(checksum: str, min_count: int) -> str:
    return hashlib.sha1(f"{CACHE_FORMAT}|{checksum}|min_count={min_count}".encode()).hexdigest()


def cached_vocab(lines: Lines, checksum: str, min_count: int, cache_dir: Path | None = None) -> Vocab:
    """`count_vocab` of the corpus, from `<cache_dir>/corpus/<key>.vocab.npz` when counted before."""
    path = _cache_base(checksum, min_count, cache_dir).with_suffix(".vocab.npz")
    try:
        with np.load(path, allow_pickle=False) as data:
            words = data["words"].tobytes().decode("utf-8").split("\n") if data["words"].size else []
            return Vocab.from_counts(words, data["counts"], min_count, int(data["total_tokens"]))
    except (OSError, KeyError, ValueError, EOFError, UnicodeDecodeError):  # missing or foreign
        pass
    vocab = count_vocab(lines(), min_count)
    blob = np.frombuffer("\n".join(vocab.words).encode("utf-8"), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, words=blob, counts=vocab.counts,
                                             total_tokens=np.int64(vocab.total_tokens)))
    except OSError:  # a read-only cache only costs the next run this pass
        pass
    return vocab


def cached_ids(lines: Lines, checksum: str, vocab: Vocab, cache_dir: Path | None = None, *,
               source: str = "the corpus") -> tuple[np.ndarray, np.ndarray]:
    """(ids, offsets) of the corpus, memory-mapped read-only from the cache, encoded first if
    the cache lacks them. A file of the wrong size or shape is re-encoded; a fresh encoding that
    does not match `vocab` is a `CorpusChanged` naming `source`."""
    base = _cache_base(checksum, vocab.min_count, cache_dir)
    ids_path, offsets_path = base.with_suffix(".ids.i32"), base.with_suffix(".offsets.i64")
    loaded = _load_ids(ids_path, offsets_path, vocab)
    if loaded is not None:
        return loaded
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        _encode_to(lines, vocab, ids_path, offsets_path)
    except OSError:  # a read-only cache: map temporary files, removed once mapped (POSIX keeps them)
        with tempfile.TemporaryDirectory(prefix="d2l-corpus-", ignore_cleanup_errors=True) as tmp:
            ids_path, offsets_path = Path(tmp) / "ids.i32", Path(tmp) / "offsets.i64"
            _encode_to(lines, vocab, ids_path, offsets_path)
            return _load_ids_or_fail(ids_path, offsets_path, vocab, source)
    return _load_ids_or_fail(ids_path, offsets_path, vocab, source)


def _encode_to(lines: Lines, vocab: Vocab, ids_path: Path, offsets_path: Path) -> None:
    # The ids file is moved into place last, after the offsets, so a complete pair is on disk
    # whenever the ids are; `_load_ids` checks that the two agree anyway.
    atomic_write(ids_path, lambda ids_out: atomic_write(
        offsets_path, lambda offsets_out: encode_lines(lines(), vocab, ids_out, offsets_out)))


def _load_ids_or_fail(ids_path: Path, offsets_path: Path, vocab: Vocab, source: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    loaded = _load_ids(ids_path, offsets_path, vocab)
    if loaded is None:  # the words encoded are not those counted: the text changed in between
        raise CorpusChanged(f"{source} changed while being read (the words of its second reading are not "
                            "those of its first): wait until it is complete, or copy it and give the copy")
    return loaded


def forget(checksum: str, min_count: int, cache_dir: Path | None = None) -> None:
    """Remove what is cached of the corpus with `checksum` at `min_count`."""
    base = _cache_base(checksum, min_count, cache_dir)
    for suffix in (".vocab.npz", ".ids.i32", ".offsets.i64"):
        base.with_suffix(suffix).unlink(missing_ok=True)


def _cache_base(checksum: str, min_count: int, cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()) / "corpus" / corpus_cache_key(checksum, min_count)


def _load_ids(ids_path: Path, offsets_path: Path, vocab: Vocab) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (ids, offsets), or None when missing or not the encoding of this vocabulary: a
    damaged cache file (a bit flip, a disk error, a hand edit) is re-encoded, never trained on.
    Each word's count of ids must equal its vocabulary count, which one pass over the ids checks."""
    tokens = int(vocab.counts.sum())
    try:
        if ids_path.stat().st_size != 4 * tokens or tokens == 0:
            return None
        ids = np.memmap(ids_path, dtype="<i4", mode="r")
        offsets = np.memmap(offsets_path, dtype="<i8", mode="r")
    except (OSError, ValueError):
        return None
    if offsets.size < 2 or offsets[0] != 0 or offsets[-1] != ids.size:
        return None
    for start in range(0, offsets.size - 1, ENCODE_BLOCK):  # blocks overlap by one: every step is checked
        if np.any(np.diff(offsets[start:start + ENCODE_BLOCK + 1]) < 0):
            return None
    counts = np.zeros(len(vocab), dtype=np.int64)
    for start in range(0, ids.size, ENCODE_BLOCK):
        block = ids[start:start + ENCODE_BLOCK]
        if block.min() < 0 or block.max() >= len(vocab):
            return None
        counts += np.bincount(block, minlength=len(vocab))
    return (ids, offsets) if np.array_equal(counts, vocab.counts) else None
