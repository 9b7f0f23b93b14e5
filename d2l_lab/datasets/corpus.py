"""Word2vec training corpora: the bundled PTB train split, or a user's ``--corpus FILE``.

A corpus is a list of sentences, each a list of whitespace-separated tokens, one sentence per
line, as the d2l book's ``read_ptb``. User files may be plain, ``.gz`` or ``.xz``; every way
such a file can be unusable is a one-line UserError rather than a traceback.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import lzma
import zlib
from pathlib import Path

from d2l_lab.datasets import bundled
from d2l_lab.errors import UserError

_FIX = "give a UTF-8 text file (plain, .gz or .xz) with one whitespace-tokenised sentence per line"


def _tokenise(text: str) -> list[list[str]]:
    # Split on "\n" only (like the book), so form feeds etc. inside a line stay whitespace.
    return [tokens for tokens in (line.split() for line in text.split("\n")) if tokens]


def _check_ptb_split(split: str) -> None:
    if split != "train":
        raise UserError(f"PTB split {split!r} is not bundled: only 'train' is available")


@functools.lru_cache(maxsize=None)
def _ptb_sentences(split: str) -> tuple[tuple[str, ...], ...]:
    return tuple(map(tuple, _tokenise(bundled.read_text(f"ptb.{split}"))))


def read_ptb(split: str = "train") -> list[list[str]]:
    """Sentences of the bundled PTB split: 42,068 sentences, 887,521 tokens.

    Tokenised once and cached; each call returns fresh lists, so callers may mutate them.
    """
    _check_ptb_split(split)
    return [list(sentence) for sentence in _ptb_sentences(split)]


def ptb_checksum(split: str = "train") -> str:
    """Checksum of the bundled PTB split, for summary.json."""
    _check_ptb_split(split)
    return bundled.checksum(f"ptb.{split}")


def _bad(path: Path, problem: str) -> UserError:
    return UserError(f"corpus file '{path}' {problem}: {_FIX}")


def _read_raw(path: str | Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise _bad(path, "does not exist")
    if path.is_dir():
        raise _bad(path, "is a directory")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None


def _decompress(path: Path, raw: bytes) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            return gzip.decompress(raw)
        if suffix == ".xz":
            return lzma.decompress(raw)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise _bad(path, f"is not valid {suffix[1:]} data ({exc})") from None
    return raw


def read_corpus(path: str | Path) -> list[list[str]]:
    """Sentences of a user corpus file; blank lines are skipped."""
    path = Path(path)
    content = _decompress(path, _read_raw(path))
    if b"\x00" in content:
        raise _bad(path, "looks binary (contains NUL bytes)")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    sentences = _tokenise(text)
    if not sentences:
        raise _bad(path, "is empty")
    return sentences


def corpus_checksum(path: str | Path) -> str:
    """sha1 of the raw (still compressed) file bytes, for summary.json."""
    return f"sha1:{hashlib.sha1(_read_raw(path)).hexdigest()}"
