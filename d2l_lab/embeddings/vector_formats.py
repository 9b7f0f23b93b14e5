"""Word vectors on disk: word2vec text, word2vec binary (as gensim and the C tool write it) and
GloVe text (no header).

Files are streamed: rows go straight into one preallocated float32 matrix when a header gives
the count, else into fixed-size chunks joined once at the end, so loading a 400k x 300 file
peaks near twice its float32 size. Compressed input (gzip, bzip2, xz) is recognised by its
magic bytes, whatever the file is called.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np

from d2l_lab.config.schema import clip
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

FORMATS = ("auto", "word2vec", "word2vec-binary", "glove")

_SNIFF_BYTES = 1 << 16
_READ_BYTES = 1 << 20
_CHUNK_VALUES = 1 << 22  # floats per growth chunk when the word count is not known up front
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_SPACE = re.compile(r"[ \t\n\r\x0b\x0c]")  # what bytes.split() splits on when reading


def load_vectors(path: str | Path, limit: int | None = None, fmt: str = "auto") -> WordVectors:
    """Read word vectors; `limit=N` keeps the first N words (the most frequent, in these formats).

    `fmt` is one of "auto", "word2vec" (text with a `count dim` header), "word2vec-binary"
    or "glove" (text without a header).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"unknown vector format {fmt!r}; use one of {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be a positive number of words, got {limit}")
    if str(path) in ("", "."):
        raise UserError("the vector file path is empty; give the path of a vectors file")
    if not path.is_file():
        problem = ("is a directory" if path.is_dir() else "does not exist" if not path.exists() else
                   "is a pipe or a device, not a regular file (it is read twice: format detection, then loading)")
        raise UserError(f"vector file {path} {problem}; check the path")
    try:
        with _open(path) as f:
            head = f.read(_SNIFF_BYTES).removeprefix(codecs.BOM_UTF8)
        if not head.strip():
            raise UserError(f"vector file {path} is empty; re-download or re-export it")
        header = _parse_header(head, path)
        room = None if _compressed(path) else path.stat().st_size
        if header is not None and room is not None and header[1] * 2 > room:  # not even one vector fits
            raise UserError(f"{path}: the header promises vectors of {header[1]:,} values, more than the whole "
                            f"file ({room:,} bytes) can hold; fix the header's second number")
        if fmt == "auto":
            fmt = _detect(head, header)
        if fmt != "glove" and header is None:
            raise UserError(f"{path}: line 1 is not a 'count dim' header; use fmt='glove' for files without one")
        with _open(path) as f:
            if f.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:  # an editor's byte-order mark is not part of a word
                f.seek(0)
            if fmt == "word2vec-binary":
                f.readline()
                return _read_binary(f, *header, limit=limit, path=path, room=room)
            return _read_text(f, header if fmt == "word2vec" else None, limit=limit, path=path, room=room)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UserError(f"cannot read {path} ({exc}); check that the file is complete and not corrupted") from None


def unstorable_word(words: Iterable[str]) -> str | None:
    """The first word that word2vec text cannot store and read back, or None: an empty one, one with
    whitespace (it splits the line) or with a control character (the file would be taken for
    word2vec binary)."""
    return next((w for w in words if not w or _ASCII_SPACE.search(w) or _CONTROL_CHARS.search(w)), None)


def save_word2vec_text(vectors: WordVectors, path: str | Path) -> None:
    """Write word2vec text atomically, so a crash never leaves a half-written file behind.

    Values use %.9g, the shortest fixed precision that round-trips every float32 exactly.
    """
    path = Path(path)
    bad = unstorable_word(vectors.words)
    if bad is not None:
        raise UserError(f"word '{clip(bad)}' is empty or contains whitespace or a control character, which "
                        "word2vec text cannot store and read back; rename it before saving")
    if not path.parent.is_dir():
        raise UserError(f"directory {path.parent} does not exist; create it before saving {path.name}")
    row_format = " ".join(["%.9g"] * vectors.dim)

    def write(f: IO[bytes]) -> None:
        f.write(f"{len(vectors)} {vectors.dim}\n".encode())
        for word, row in zip(vectors.words, vectors.matrix):
            f.write(f"{word} {row_format % tuple(row.tolist())}\n".encode())

    atomic_write(path, write)


def _open(path: Path) -> IO[bytes]:
    with open(path, "rb") as f:
        magic = f.read(6)
    opener = next((op for prefix, op in _COMPRESSED.items() if magic.startswith(prefix)), open)
    return opener(path, "rb")


def _compressed(path: Path) -> bool:
    with open(path, "rb") as f:
        magic = f.read(6)
    return any(magic.startswith(prefix) for prefix in _COMPRESSED)


def _parse_header(head: bytes, path: Path) -> tuple[int, int] | None:
    """(count, dim) when the first line is two integers, else None (GloVe)."""
    tokens = head.split(b"\n", 1)[0].split()
    if len(tokens) != 2 or not all(t.isdigit() for t in tokens):
        return None
    count, dim = int(tokens[0]), int(tokens[1])
    if count < 1 or dim < 1:
        raise UserError(f"{path}: header '{count} {dim}' promises no vectors; fix the header or the export")
    return count, dim


def _detect(head: bytes, header: tuple[int, int] | None) -> str:
    """After a header, raw float32 bytes are never clean UTF-8 text for long; text lines are."""
    if header is None:
        return "glove"
    rest = head.split(b"\n", 1)[1] if b"\n" in head else b""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(rest, final=False)
    except UnicodeDecodeError:
        return "word2vec-binary"
    return "word2vec-binary" if _CONTROL_CHARS.search(text) else "word2vec"


class _Rows:
    """Collects vectors: one block when the final count is known, else fixed-size chunks joined
    once at the end (memory peaks near twice the result). Repeated words keep their first vector,
    as gensim does.

    A header's count is trusted for the block only when the file's `room` (its size in bytes, when
    not compressed) could hold that many vectors at 2 bytes a value at least (text: a digit and a
    separator; binary: 4); a header that lies about a huge count costs chunks, not its promise in
    memory, and the reader then reports the lie where the file ends."""

    def __init__(self, dim: int, count: int | None, limit: int | None, path: Path, room: int | None = None):
        self.dim, self.limit, self.path = dim, limit, path
        if count is not None and room is not None and count * dim * 2 > room:
            count = None
        known = count if count is None or limit is None else min(count, limit)
        self.chunk_rows = known or max(1, _CHUNK_VALUES // dim)
        self.blocks = [self._allocate(self.chunk_rows if limit is None else min(self.chunk_rows, limit))]
        self.used = 0
        self.words: list[str] = []
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.words) >= self.limit

    def add(self, word: str, values: np.ndarray, where: str) -> None:
        if not np.isfinite(values).all():  # NaN breaks every similarity; refuse before it spreads
            bad = values[~np.isfinite(values)][0]
            raise UserError(f"{where}: the vector of '{clip(word, 40)}' holds {bad}, not a finite float32; "
                            "re-export the vectors (a diverged training writes such values)")
        if word in self.seen:
            return
        if self.used == len(self.blocks[-1]):
            self.blocks.append(self._allocate(self.chunk_rows))
            self.used = 0
        self.blocks[-1][self.used] = values
        self.used += 1
        self.words.append(word)
        self.seen.add(word)

    def result(self) -> WordVectors:
        """The vectors in one exact-size array, so no unused rows stay allocated behind it."""
        last = self.blocks[-1]
        self.blocks[-1] = last[: self.used]
        if len(self.blocks) > 1:
            matrix = np.concatenate(self.blocks)
        else:
            matrix = last if self.used == len(last) else last[: self.used].copy()
        self.blocks.clear()
        return WordVectors(self.words, matrix)

    def _allocate(self, rows: int) -> np.ndarray:
        try:
            return np.empty((rows, self.dim), dtype=np.float32)
        except (MemoryError, ValueError):  # ValueError: more bytes than an array can address
            raise UserError(f"{self.path}: {rows:,} x {self.dim:,} floats do not fit in memory; "
                            "pass a limit to load only the most frequent words, or fix the header") from None


def _read_text(f: IO[bytes], header: tuple[int, int] | None, limit: int | None, path: Path,
               room: int | None = None) -> WordVectors:
    count, dim = header if header else (None, None)
    dim_source = "the header says"
    rows = _Rows(dim, count, limit, path, room) if dim else None
    entries = 0
    for lineno, line in enumerate(f, start=1):
        parts = line.split()
        if (header and lineno == 1) or not parts:
            continue
        where = f"{path}, line {lineno:,}"
        if entries == count:
            raise UserError(f"{where}: the header promises {count:,} vectors but the file has more; "
                            "fix the header's first number")
        if rows is None:
            dim, dim_source = len(parts) - 1, f"line {lineno:,} has"
            if dim == 0:
                raise UserError(f"{where}: a word with no values; every line must be 'word v1 ... vd'")
            rows = _Rows(dim, None, limit, path)
        if len(parts) != dim + 1:
            raise UserError(f"{where}: expected {dim} values after the word ({dim_source} {dim}), "
                            f"found {len(parts) - 1}; every line must be 'word v1 ... v{dim}'")
        rows.add(_decode(parts[0], where), _floats(parts[1:], where), where)
        entries += 1
        if rows.full:
            break
    else:
        if count is not None and entries < count:
            raise UserError(f"{path}: the header promises {count:,} vectors but the file has {entries:,}; "
                            "fix the header's first number or re-download the file")
    assert rows is not None  # an all-blank file is rejected as empty before reading
    return rows.result()


def _read_binary(f: IO[bytes], count: int, dim: int, limit: int | None, path: Path,
                 room: int | None = None) -> WordVectors:
    """Per word: the UTF-8 word, a space, dim little-endian float32 (and a newline from the C tool)."""
    rows = _Rows(dim, count, limit, path, room)
    size = 4 * dim
    buf, pos = b"", 0
    for entry in range(1, count + 1):
        if rows.full:
            break
        while (space := buf.find(b" ", pos)) < 0 or len(buf) - space - 1 < size:
            more = f.read(_READ_BYTES)
            if not more:
                raise UserError(f"{path} (word2vec binary): the header promises {count:,} vectors but the file "
                                f"ends inside vector {entry:,}; re-download it or fix the header")
            buf, pos = buf[pos:] + more, 0
        where = f"{path} (word2vec binary), vector {entry:,}"
        rows.add(_decode(buf[pos:space].lstrip(b"\n"), where),
                 np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1), where)
        pos = space + 1 + size
    else:
        if (buf[pos:] + f.read(_SNIFF_BYTES)).strip():
            raise UserError(f"{path} (word2vec binary): the header promises {count:,} vectors but the file has "
                            "more data; fix the header's first number")
    return rows.result()


def _decode(word: bytes, where: str) -> str:
    if not word:
        raise UserError(f"{where}: empty word; the file is malformed")
    try:
        return word.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where}: the word is not valid UTF-8; re-encode the file as UTF-8") from None


def _floats(tokens: list[bytes], where: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by `_Rows.add`
            return np.array(tokens, dtype=np.float32)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise UserError(f"{where}: '{clip(bad.decode('utf-8', 'replace'))}' is not a number; "
                        "every value after the word must be numeric") from None


def _is_number(token: bytes) -> bool:
    try:
        np.float32(token)
    except ValueError:
        return False
    return True
