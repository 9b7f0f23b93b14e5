"""Word vectors on disk: word2vec text, word2vec binary (as gensim and the C tool write it) and
GloVe text (no header).

Files are streamed: rows go straight into one preallocated float32 matrix when a header gives
the count, else into fixed-size chunks joined once at the end, so loading a 400k x 300 file
peaks near twice its float32 size. Compressed input (gzip, bzip2, xz) is recognised by its
magic bytes, whatever the file is called. Every row is checked (`vector_rows`: its word;
`vector_binary`: where a binary row ends), so a damaged file is one error naming its row.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from d2l_lab.config.schema import clip
from d2l_lab.embeddings.vector_binary import read_binary
from d2l_lab.embeddings.vector_rows import CONTROL, Rows, word_fault, word_of
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

FORMATS = ("auto", "word2vec", "word2vec-binary", "glove")

_SNIFF_BYTES = 1 << 16
_MAX_LINE_BYTES = 1 << 24  # a text row of a million values; a longer "line" is not a vectors file
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


def load_vectors(path: str | Path, limit: int | None = None, fmt: str = "auto",
                 warn: Callable[[str], None] | None = None) -> WordVectors:
    """Read word vectors; `limit=N` keeps the first N words (the most frequent, in these formats).

    `fmt` is one of "auto", "word2vec" (text with a `count dim` header), "word2vec-binary"
    or "glove" (text without a header). `warn` hears what a usable file still got wrong
    (repeated words), in one line each.
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
                rows = Rows(f"{path} (word2vec binary)", "row", header[1], header[0], limit, room)
                read_binary(f, *header, rows)
            else:
                rows = _read_text(f, header if fmt == "word2vec" else None, limit=limit, path=path, room=room)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UserError(f"cannot read {path} ({exc}); check that the file is complete and not corrupted") from None
    for message in rows.warnings() if warn else ():
        warn(message)
    return WordVectors(*rows.result())


def unstorable_word(words: Iterable[str]) -> str | None:
    """The first word that word2vec text cannot store and read back, or None: an empty one, one with
    a space (it splits the line) or with a control character (no vectors file may hold one)."""
    return next((w for w in words if not w or " " in w or CONTROL.search(w)), None)


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
    """After a header, a text file's next line ends in numbers; a binary row's float bytes never
    spell them (and a text file whose first word is damaged is still text, told so by its line)."""
    if header is None:
        return "glove"
    lines = head.split(b"\n", 2)
    values = lines[1].split()[1:] if len(lines) > 1 else []
    if len(lines) == 2 and len(values) > 1:  # the line may be cut by the sniff: its last value too
        values.pop()
    return "word2vec" if all(_is_number(v) for v in values[-header[1]:]) else "word2vec-binary"


def _read_text(f: IO[bytes], header: tuple[int, int] | None, limit: int | None, path: Path,
               room: int | None = None) -> Rows:
    count, dim = header if header else (None, None)
    dim_source = "the header says"
    rows = Rows(str(path), "line", dim, count, limit, room) if dim else None
    entries = 0
    for lineno, line in _lines(f, path):
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
            rows = Rows(str(path), "line", dim, None, limit)
        if len(parts) != dim + 1:
            phrase = " (a word holding a space cannot be stored in text: join it with '_')" * (len(parts) > dim + 1)
            raise UserError(f"{where}: expected {dim} values after the word ({dim_source} {dim}), "
                            f"found {len(parts) - 1}{phrase}; every line must be 'word v1 ... v{dim}'")
        if (word := word_of(parts[0])) is None:
            raise UserError(f"{where}: {word_fault(parts[0])}; fix that line, or re-export the file as UTF-8")
        rows.add(word, _floats(parts[1:], where), lineno)
        entries += 1
        if rows.full:
            break
    else:
        if count is not None and entries < count:
            raise UserError(f"{path}: the header promises {count:,} vectors but the file has {entries:,}; "
                            "fix the header's first number or re-download the file")
    assert rows is not None  # an all-blank file is rejected as empty before reading
    return rows


def _lines(f: IO[bytes], path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, line) from 1, refusing a line longer than any row: a file without line breaks is
    not read whole into memory."""
    for lineno, line in enumerate(iter(lambda: f.readline(_MAX_LINE_BYTES + 1), b""), start=1):
        if len(line) > _MAX_LINE_BYTES:
            raise UserError(f"{path}, line {lineno:,}: over {_MAX_LINE_BYTES:,} bytes without a line break; the "
                            "file is damaged or not a vectors file")
        yield lineno, line


def _floats(tokens: list[bytes], where: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by `Rows.add`
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
