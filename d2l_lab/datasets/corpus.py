"""Word2vec training corpora: the bundled PTB train split, or a user's ``--corpus FILE|DIR``.

A corpus is one whitespace-tokenised sentence per line, as the d2l book's ``read_ptb``. Small
inputs (BPE, tests) are read whole as lists of sentences (`read_ptb`, `read_corpus`); the
embedding trainers read a corpus as a stream of lines instead (`corpus_lines`), a block of
bytes at a time, so a file of any size costs one block of memory. User files may be plain,
``.gz``, ``.bz2`` or ``.xz``, or a directory of such files (read in name order); every way such
an input can be unusable is a one-line UserError rather than a traceback.
"""

from __future__ import annotations

import bz2
import codecs
import functools
import gzip
import hashlib
import lzma
import stat
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from d2l_lab.datasets import bundled
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress  # (bytes done, bytes total): the CLI's download bar renders it

_FIX = "give a UTF-8 text file (plain, .gz, .bz2 or .xz) with one whitespace-tokenised sentence per line"
_DIR_FIX = "give a directory of UTF-8 text files (plain, .gz, .bz2 or .xz), or one such file"

READ_BLOCK = 1 << 20
"""Bytes read (and decompressed) at a time by `corpus_lines`: its memory, whatever the corpus."""
MAX_LINE_CHARS = 1 << 16
"""Longer lines are cut into sentences of at most this many characters, at the last whitespace
before the limit (gensim cuts at 10,000 words, the C tool at 1,000), so that a corpus without
newlines (text8) is still read a block at a time. The cuts depend on the text only, never on
how it was read."""


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


def _check_path(path: str | Path) -> Path:
    """`path` as a Path, refusing an empty one (it would silently mean the working directory)."""
    if str(path) == "":
        raise UserError(f"the corpus path is empty: {_FIX}")
    return Path(path)


def _check_regular(path: Path) -> None:
    """A corpus is read more than once (checksum, counting, encoding): a pipe or a device such as
    /dev/zero cannot be, and an endless one would never finish, so only regular files are read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _bad(path, "does not exist") from None
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise _bad(path, "is a directory")
    if not stat.S_ISREG(mode):
        raise _bad(path, "is a pipe or a device, not a regular file (a corpus is read more than once)")


def _read_raw(path: str | Path) -> bytes:
    path = _check_path(path)
    _check_regular(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None


def _decompress(path: Path, raw: bytes) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            return gzip.decompress(raw)
        if suffix == ".bz2":
            return bz2.decompress(raw)
        if suffix == ".xz":
            return lzma.decompress(raw)
    except _DECOMPRESSION_ERRORS as exc:
        raise _bad(path, f"is not valid {suffix[1:]} data ({exc})") from None
    return raw


_DECOMPRESSION_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def read_corpus(path: str | Path) -> list[list[str]]:
    """Sentences of a user corpus file; blank lines are skipped."""
    path = _check_path(path)
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


def corpus_files(path: str | Path) -> list[Path]:
    """The files of a corpus: the file itself, or a directory's visible regular files in name order."""
    path = _check_path(path)
    if not path.exists():
        raise _bad(path, "does not exist")
    if not path.is_dir():
        _check_regular(path)
        return [path]
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise UserError(f"corpus directory '{path}' cannot be read ({exc.strerror or exc}): {_DIR_FIX}") from None
    if not files:
        raise UserError(f"corpus directory '{path}' has no files: {_DIR_FIX}")
    return files


def corpus_checksum(path: str | Path) -> str:
    """sha1 of the raw (still compressed) bytes, for summary.json and cache keys: of the file, or
    of a directory's files in name order, each preceded by its name. A single compressed file's
    checksum also says how it is read (`sha1:<hex>+gz`): the same bytes named `a.txt` and
    `a.txt.gz` are two different corpora (one of them unreadable), and must never share a cache
    entry or pass for the same data on resume."""
    path = _check_path(path)
    digest = hashlib.sha1()
    for file in corpus_files(path):
        if path.is_dir():
            digest.update(file.name.encode("utf-8") + b"\0")
        with _open_raw(file) as f:
            while block := _read(f, file, READ_BLOCK):
                digest.update(block)
    suffix = path.suffix.lower()
    reading = f"+{suffix[1:]}" if suffix in _DECOMPRESSORS and not path.is_dir() else ""
    return f"sha1:{digest.hexdigest()}{reading}"


def _open_raw(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise _bad(path, "does not exist") from None
    except IsADirectoryError:
        raise _bad(path, "is a directory") from None
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None


def _read(f: IO[bytes], path: Path, size: int) -> bytes:
    """`f.read(size)`, with read and decompression failures as one-line errors."""
    try:
        return f.read(size)
    except _DECOMPRESSION_ERRORS as exc:
        suffix = path.suffix.lower()
        if suffix in _DECOMPRESSORS:
            raise _bad(path, f"is not valid {suffix[1:]} data ({exc})") from None
        raise _bad(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None


_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw),
    ".bz2": lambda raw: bz2.BZ2File(raw),
    ".xz": lambda raw: lzma.LZMAFile(raw),
}


def corpus_lines(path: str | Path, *, block_size: int = READ_BLOCK, progress: Progress | None = None) -> Iterator[str]:
    """Every line of a corpus file or directory, without its newline, read `block_size` bytes
    at a time; lines longer than MAX_LINE_CHARS are cut (see there). Raises a one-line
    UserError for a missing, unreadable, corrupt, binary or non-UTF-8 input, or one with no
    tokens at all."""
    files = corpus_files(path)
    total = sum(file.stat().st_size for file in files)
    done = 0
    any_tokens = False
    for file in files:
        with _open_raw(file) as raw:
            opener = _DECOMPRESSORS.get(file.suffix.lower())
            stream = opener(raw) if opener else raw
            for number, line in enumerate(_file_lines(stream, file, block_size)):
                any_tokens = any_tokens or bool(line.split())
                yield line
                if progress is not None and number % 4096 == 0:
                    progress(done + raw.tell(), total)
            done += file.stat().st_size
            if progress is not None:
                progress(done, total)
    if not any_tokens:
        raise _bad(Path(path), "is empty")


def _file_lines(stream: IO[bytes], path: Path, block_size: int) -> Iterator[str]:
    """Lines of one (decompressed) byte stream, split on "\n" only, as `_tokenise` does."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    tail, consumed = "", 0
    final = False
    while not final:
        block = _read(stream, path, block_size)
        final = not block
        try:
            text = tail + decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            raise _bad(path, f"is not UTF-8 text (bad byte near offset {consumed + max(exc.start, 0)})") from None
        consumed += len(block)
        if "\x00" in text:
            raise _bad(path, "looks binary (contains NUL bytes)")
        lines = text.split("\n")
        tail = lines.pop()  # the line still going; at the end, what follows the last newline
        if final and tail:
            lines.append(tail)
            tail = ""
        for line in lines:
            yield from _cut_long_line(line)
        while len(tail) > MAX_LINE_CHARS:  # a line still going: emit its complete pieces now
            head, tail = _cut_once(tail)
            yield head


def _cut_long_line(line: str) -> Iterator[str]:
    while len(line) > MAX_LINE_CHARS:
        head, line = _cut_once(line)
        yield head
    yield line


def _cut_once(line: str) -> tuple[str, str]:
    """The first piece of a too-long line (up to its last whitespace within MAX_LINE_CHARS) and
    the rest."""
    window = line[:MAX_LINE_CHARS + 1]
    cut = max(window.rfind(" "), window.rfind("\t"))
    if cut <= 0:
        cut = MAX_LINE_CHARS
    return line[:cut], line[cut:]


def ptb_lines(split: str = "train") -> Iterator[str]:
    """The lines of the bundled PTB split, as `corpus_lines` gives a user's file."""
    _check_ptb_split(split)
    yield from bundled.read_text(f"ptb.{split}").split("\n")
