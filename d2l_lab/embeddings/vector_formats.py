"""Word vectors on disk: word2vec text, word2vec binary (as gensim and the C tool write it) and
GloVe text (no header); with fmt "auto", a fastText binary model too (`fasttext_bin`).

Files are streamed: rows go straight into one preallocated float32 matrix when a header gives
the count, else into fixed-size chunks joined once at the end, so loading a 400k x 300 file
peaks near twice its float32 size. Text is parsed a block of lines at a time, the numbers of a
block in one numpy call (a block with anything unusual is read line by line instead, with the
same checks and the same messages). Compressed input (gzip, bzip2, xz) is recognised by its
magic bytes, whatever the file is called. Every row is checked (`vector_rows`: its word;
`vector_binary`: where a binary row ends), so a damaged file is one error naming its row.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from d2l_lab.config.schema import clip
from d2l_lab.embeddings.fasttext_bin import is_fasttext_bin, load_fasttext_bin
from d2l_lab.embeddings.vector_binary import read_binary
from d2l_lab.embeddings.vector_rows import CONTROL, Rows, word_fault, word_of
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress  # (bytes done, bytes total): the CLI's bar renders it

FORMATS = ("auto", "word2vec", "word2vec-binary", "glove")

_SNIFF_BYTES = 1 << 16
_BLOCK_BYTES = 1 << 23  # text read and parsed at a time: a few times this in temporaries
_MAX_LINE_BYTES = 1 << 24  # a text row of a million values; a longer "line" is not a vectors file
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


def load_vectors(path: str | Path, limit: int | None = None, fmt: str = "auto",
                 warn: Callable[[str], None] | None = None, progress: Progress | None = None) -> WordVectors:
    """Read word vectors; `limit=N` keeps the first N words (the most frequent, in these formats).

    `fmt` is one of "auto", "word2vec" (text with a `count dim` header), "word2vec-binary"
    or "glove" (text without a header); "auto" also reads a fastText `.bin` model, whose
    vectors embed other words from their n-grams (`fasttext_bin`). `warn` hears what a usable file still got wrong
    (repeated words), in one line each; `progress` hears (bytes read, file size) as text is read.
    """
    path = checked_path(path, limit, fmt)
    if fmt == "auto" and is_fasttext_bin(path):
        return load_fasttext_bin(path, limit, warn, progress)
    rows, _ = read_rows(path, limit, fmt, progress)
    for message in rows.warnings() if warn else ():
        warn(message)
    return WordVectors(*rows.result())


def checked_path(path: str | Path, limit: int | None, fmt: str) -> Path:
    """`path` as a Path once the request makes sense: a known format, a positive limit, a regular file."""
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
    return path


def read_rows(path: Path, limit: int | None, fmt: str, progress: Progress | None = None) -> tuple[Rows, str]:
    """The rows of a `checked_path` file, every one checked, and the format it was read as."""
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
                rows = Rows(source_label(path, fmt), "row", header[1], header[0], limit, room)
                read_binary(f, *header, rows)
            else:
                reader = _TextReader(path, header if fmt == "word2vec" else None, limit, room)
                rows = reader.read(f, progress)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UserError(f"cannot read {path} ({exc}); check that the file is complete and not corrupted") from None
    return rows, fmt


def source_label(path: Path, fmt: str) -> str:
    """How messages name a vectors file read as `fmt`."""
    return f"{path} (word2vec binary)" if fmt == "word2vec-binary" else str(path)


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


class _TextReader:
    """word2vec or GloVe text, a block of lines at a time. The common block (every line `word v1 ...
    vd` with single spaces, a valid word and finite values) is parsed by one numpy call for all of
    its numbers (`_fast`); any other block is read line by line (`_slow`), which says what is wrong
    and where, so both accept and refuse the same files."""

    def __init__(self, path: Path, header: tuple[int, int] | None, limit: int | None, room: int | None):
        self.path, self.header, self.limit = path, header, limit
        self.count, self.dim = header if header else (None, None)
        self.dim_source = "the header says"
        self.rows = Rows(str(path), "line", self.dim, self.count, limit, room) if self.dim else None
        self.entries = 0

    def read(self, f: IO[bytes], progress: Progress | None) -> Rows:
        total, done = self.path.stat().st_size if not _compressed(self.path) else None, 0
        for first, lines, size in _blocks(f):
            if first == 1 and self.header:  # the header line: checked as any line, then passed over
                self._slow(lines[:1], 1)
                lines, first = lines[1:], 2
            if self.rows is None or not self._fast(lines, first):
                self._slow(lines, first)
            if self.rows is not None and self.rows.full:
                return self.rows
            done += size
            if progress is not None:
                progress(done, total)
        if self.count is not None and self.entries < self.count:
            raise UserError(f"{self.path}: the header promises {self.count:,} vectors but the file has "
                            f"{self.entries:,}; fix the header's first number or re-download the file")
        assert self.rows is not None  # an all-blank file is rejected as empty before reading
        return self.rows

    def _fast(self, lines: list[bytes], first: int) -> bool:
        """Add the block's rows when every line is the usual shape, the numbers parsed in bulk;
        False (nothing added) when a line needs `_slow`."""
        assert self.rows is not None and self.dim is not None
        raw: list[bytes] = []
        numbers: list[int] = []
        values: list[bytes] = []
        for number, line in enumerate(lines, start=first):
            if not line or line.isspace():
                continue
            word, _, rest = line.partition(b" ")
            if rest[-1:] in (b" ", b"\r"):  # the C tool ends each line with a space; Windows with CR
                rest = rest.rstrip(b" \r")
            if not rest or rest.count(b" ") != self.dim - 1 or len(line) > _MAX_LINE_BYTES:
                return False
            raw.append(word)
            numbers.append(number)
            values.append(rest)
        if self.count is not None and self.entries + len(raw) > self.count:
            return False
        joined = b" ".join(values)
        if b"  " in joined or joined[:1] == b" ":  # an empty field: the counts above would not hold
            return False
        words = [word for word in map(word_of, raw) if word is not None]
        matrix = _bulk_floats(joined, len(raw), self.dim) if len(words) == len(raw) else None
        if matrix is None:
            return False
        self.entries += len(raw)
        self.rows.add_many(words, matrix, numbers)
        return True

    def _slow(self, lines: list[bytes], first: int) -> None:
        for number, line in enumerate(lines, start=first):
            if len(line) > _MAX_LINE_BYTES:
                raise UserError(f"{self.path}, line {number:,}: over {_MAX_LINE_BYTES:,} bytes without a line break; "
                                "the file is damaged or not a vectors file")
            parts = line.split()
            if not parts or (number == 1 and self.header):
                continue
            where = f"{self.path}, line {number:,}"
            if self.entries == self.count:
                raise UserError(f"{where}: the header promises {self.count:,} vectors but the file has more; "
                                "fix the header's first number")
            if self.rows is None:
                self.dim, self.dim_source = len(parts) - 1, f"line {number:,} has"
                if self.dim == 0:
                    raise UserError(f"{where}: a word with no values; every line must be 'word v1 ... vd'")
                self.rows = Rows(str(self.path), "line", self.dim, None, self.limit)
            dim = self.dim
            if len(parts) != dim + 1:
                phrase = " (a word holding a space cannot be stored in text: join it with '_')" * (len(parts) > dim + 1)
                raise UserError(f"{where}: expected {dim} values after the word ({self.dim_source} {dim}), "
                                f"found {len(parts) - 1}{phrase}; every line must be 'word v1 ... v{dim}'")
            if (word := word_of(parts[0])) is None:
                raise UserError(f"{where}: {word_fault(parts[0])}; fix that line, or re-export the file as UTF-8")
            self.rows.add(word, _floats(parts[1:], where), number)
            self.entries += 1
            if self.rows.full:
                return


def _blocks(f: IO[bytes]) -> Iterator[tuple[int, list[bytes], int]]:
    """(number of the first line, the lines, bytes read) for about `_BLOCK_BYTES` at a time, whole
    lines only: a block ends where a line does, or `_MAX_LINE_BYTES` further, so a file without
    line breaks is never read whole into memory (its over-long line is refused by number)."""
    first = 1
    while chunk := f.read(_BLOCK_BYTES):
        if not chunk.endswith(b"\n"):
            chunk += f.readline(_MAX_LINE_BYTES + 1)
        lines = chunk.split(b"\n")
        if not lines[-1]:  # after the last line break
            lines.pop()
        yield first, lines, len(chunk)
        first += len(lines)


def _bulk_floats(joined: bytes, rows: int, dim: int) -> np.ndarray | None:
    """`rows` x `dim` float32 from numbers separated by single spaces, in one numpy call, rounded as
    `_floats` rounds them; None unless every field is a number and every value is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, and stops, at a field that is not a number
        try:
            values = np.fromstring(joined, dtype=np.float32, sep=" ")
        except (ValueError, Warning):
            return None
    if values.size != rows * dim or not np.isfinite(values).all():
        return None
    return values.reshape(rows, dim)


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
