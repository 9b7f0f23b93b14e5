"""Word2vec training corpora: the bundled PTB train split, or a user's ``--corpus FILE|DIR``.

A corpus is one whitespace-tokenised sentence per line, as the d2l book's ``read_ptb``. Small
inputs (BPE, tests) are read whole as lists of sentences (`read_ptb`, `read_corpus`); the
embedding trainers read a corpus as a stream of lines instead (`corpus_lines`), a block of
bytes at a time, so a file of any size costs one block of memory. User files may be plain,
``.gz``, ``.bz2`` or ``.xz``, or a directory of such files (read in name order); every way such
an input can be unusable is a one-line UserError rather than a traceback.

Every reading after the checksum checks that each file is the one the checksum read
(`corpus_files`: `CorpusChanged`). Every line is put in Unicode normal form C (`nfc`), so that a
word typed on macOS (NFD) and elsewhere is one word.
"""

from __future__ import annotations

import bz2
import codecs
import functools
import gzip
import hashlib
import lzma
import unicodedata
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from d2l_lab.datasets import bundled
from d2l_lab.datasets.corpus_files import (Stamp, bad, changed, check_path, check_regular, check_same_files,
                                           corpus_files, open_raw, shown, stamp)
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress  # (bytes done, bytes total): the CLI's download bar renders it

READ_BLOCK = 1 << 20
"""Bytes read (and decompressed) at a time by `corpus_lines`: its memory, whatever the corpus."""
MAX_LINE_CHARS = 1 << 16
"""Longer lines are cut into sentences of at most this many characters, at the last whitespace
before the limit (gensim cuts at 10,000 words, the C tool at 1,000), so that a corpus without
newlines (text8) is still read a block at a time. The cuts depend on the text only, never on
how it was read."""


def nfc(text: str) -> str:
    """`text` in Unicode normal form C. ASCII text (PTB) is returned at once, and text already NFC
    after `normalize`'s own quick check: on 10x PTB's 420k lines, 0.05 s (ASCII) or 0.2 s (every fifth
    word accented) against a 3-4 s counting pass; text in NFD pays its normalisation, 3.1 s."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _tokenise(text: str) -> list[list[str]]:
    # Lines end at "\n" (like the book) or "\r" (old Macs' line ends; "\r\n" then leaves a blank line,
    # skipped), so form feeds etc. inside a line stay whitespace.
    return [tokens for tokens in (line.split() for line in text.replace("\r", "\n").split("\n")) if tokens]


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


def _read_raw(path: str | Path) -> bytes:
    path = check_path(path)
    check_regular(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise bad(path, f"cannot be read ({exc.strerror or exc})") from None


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
        raise bad(path, f"is not valid {suffix[1:]} data ({exc})") from None
    return raw


_DECOMPRESSION_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def read_corpus(path: str | Path) -> list[list[str]]:
    """Sentences of a user corpus file; blank lines are skipped."""
    path = check_path(path)
    content = _decompress(path, _read_raw(path))
    _check_encoding(path, content[:4096])
    if b"\x00" in content:
        raise bad(path, "looks binary (contains NUL bytes)")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    sentences = _tokenise(nfc(text))
    if not sentences:
        raise bad(path, "is empty")
    return sentences


@dataclass(frozen=True)
class Snapshot:
    """One reading of a corpus: its checksum, and the stamp of each file it read; later readings
    (`corpus_lines(..., expected=snapshot.stamps)`) must find exactly these."""

    checksum: str
    stamps: Mapping[Path, Stamp]


def corpus_checksum(path: str | Path) -> str:
    """sha1 of the raw (still compressed) bytes, for summary.json and cache keys: of the file, or
    of a directory's files in name order, each preceded by its name. A single compressed file's
    checksum also says how it is read (`sha1:<hex>+gz`): the same bytes named `a.txt` and
    `a.txt.gz` are two different corpora (one of them unreadable), and must never share a cache
    entry or pass for the same data on resume."""
    return snapshot(path).checksum


def snapshot(path: str | Path) -> Snapshot:
    """`corpus_checksum` and the stamps of the files it read; a file that changed while it was read
    is a `CorpusChanged`."""
    path = check_path(path)
    digest = hashlib.sha1()
    stamps: dict[Path, Stamp] = {}
    for file in corpus_files(path):
        if path.is_dir():
            digest.update(file.name.encode("utf-8", errors="surrogateescape") + b"\0")
        with open_raw(file) as f:
            stamps[file] = stamp(f)
            while block := _read(f, file, READ_BLOCK):
                digest.update(block)
            if stamp(f) != stamps[file]:
                raise changed(f"corpus file '{shown(file)}'")
    suffix = path.suffix.lower()
    reading = f"+{suffix[1:]}" if suffix in _DECOMPRESSORS and not path.is_dir() else ""
    return Snapshot(f"sha1:{digest.hexdigest()}{reading}", stamps)


def _read(f: IO[bytes], path: Path, size: int) -> bytes:
    """`f.read(size)`, with read and decompression failures as one-line errors."""
    try:
        return f.read(size)
    except _DECOMPRESSION_ERRORS as exc:
        suffix = path.suffix.lower()
        if suffix in _DECOMPRESSORS:
            raise bad(path, f"is not valid {suffix[1:]} data ({exc})") from None
        raise bad(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None


_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw),
    ".bz2": lambda raw: bz2.BZ2File(raw),
    ".xz": lambda raw: lzma.LZMAFile(raw),
}


def corpus_lines(path: str | Path, *, block_size: int = READ_BLOCK, progress: Progress | None = None,
                 expected: Mapping[Path, Stamp] | None = None) -> Iterator[str]:
    """Every line of a corpus file or directory, without its newline and in NFC, read `block_size`
    bytes at a time; lines longer than MAX_LINE_CHARS are cut (see there). Raises a one-line
    UserError for a missing, unreadable, corrupt, binary or non-UTF-8 input, or one with no
    tokens at all, and `CorpusChanged` when a file changes while it is read or differs from the
    `expected` stamps (a `Snapshot`'s) when it is opened."""
    files = corpus_files(path)
    if expected is not None:
        check_same_files(path, files, expected)
    total = sum(file.stat().st_size for file in files)
    done = 0
    any_tokens = False
    for file in files:
        with open_raw(file) as raw:
            opened = stamp(raw)
            if expected is not None and expected[file] != opened:
                raise changed(f"corpus file '{shown(file)}'")
            opener = _DECOMPRESSORS.get(file.suffix.lower())
            stream = opener(raw) if opener else raw
            for number, line in enumerate(_file_lines(stream, file, block_size)):
                line = nfc(line)
                any_tokens = any_tokens or bool(line.split())
                yield line
                if progress is not None and number % 4096 == 0:
                    progress(done + raw.tell(), total)
            if stamp(raw) != opened:
                raise changed(f"corpus file '{shown(file)}'")
            done += opened[2]
            if progress is not None:
                progress(done, total)
    if not any_tokens:
        raise bad(Path(path), "is empty")


def _check_encoding(path: Path, head: bytes) -> None:
    """One line naming a UTF-16 or UTF-32 file as such (else it would be "not UTF-8" or "binary")."""
    for boms, name in (((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "UTF-32"),
                       ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "UTF-16")):
        if head.startswith(boms):
            raise bad(path, f"is {name} text (it starts with a {name} byte-order mark); convert it, e.g. "
                            f"iconv -f {name} -t UTF-8")
    halves = sorted((head[0::2].count(0), head[1::2].count(0)))  # ASCII as UTF-16: one byte of each pair is 0
    if len(head) >= 4 and halves[1] >= 0.9 * (len(head) // 2) and halves[0] <= 0.1 * (len(head) // 2):
        raise bad(path, "looks like UTF-16 text (every other byte is NUL); convert it, e.g. iconv -f UTF-16 -t UTF-8")


def _file_lines(stream: IO[bytes], path: Path, block_size: int) -> Iterator[str]:
    """Lines of one (decompressed) byte stream, split as `_tokenise` does."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    tail, consumed = "", 0
    final = False
    while not final:
        block = _read(stream, path, block_size)
        if consumed == 0:
            _check_encoding(path, block[:4096])
        final = not block
        try:
            text = tail + decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            raise bad(path, f"is not UTF-8 text (bad byte near offset {consumed + max(exc.start, 0)})") from None
        consumed += len(block)
        if "\x00" in text:
            raise bad(path, "looks binary (contains NUL bytes)")
        lines = text.replace("\r", "\n").split("\n")
        tail = lines.pop()  # the line still going; at the end, what follows the last newline
        if final and tail:
            lines.append(tail)
            tail = ""
        for line in lines:
            start = yield from _complete_pieces(line)
            yield line[start:]
        start = yield from _complete_pieces(tail)  # a line still going: emit its complete pieces now
        tail = tail[start:]


def _complete_pieces(line: str) -> Generator[str, None, int]:
    """Yield the pieces of a too-long line, each up to its last space or tab within
    MAX_LINE_CHARS (or MAX_LINE_CHARS characters where there is none), while more than
    MAX_LINE_CHARS remain; return where the rest starts. Pieces are sliced from `line` in place,
    so a block of one line costs one pass, not a copy of the rest per piece."""
    start = 0
    while len(line) - start > MAX_LINE_CHARS:
        end = start + MAX_LINE_CHARS + 1
        cut = max(line.rfind(" ", start, end), line.rfind("\t", start, end))
        if cut <= start:
            cut = start + MAX_LINE_CHARS
        yield line[start:cut]
        start = cut
    return start


def ptb_lines(split: str = "train") -> Iterator[str]:
    """The lines of the bundled PTB split, as `corpus_lines` gives a user's file."""
    _check_ptb_split(split)
    yield from bundled.read_text(f"ptb.{split}").split("\n")
