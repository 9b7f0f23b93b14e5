"""A binary copy of each large vectors file, so that only its first load parses it.

Parsing 400,000 x 300 vectors of text takes seconds, in every command that reads them; their
copy under `<cache>/vectors/` (the directory `d2l_lab.cache` configures, as for every cache) is
read memory-mapped in a fraction of a second. An entry is one file, written atomically after a
whole file was read without an error:

    magic (8 bytes) | CRC-32 of all that follows (4) | header length (4) | header (JSON) | padding
    | matrix (count x dim little-endian float32) | words (UTF-8, one a line) | repeats (int64)

Its header names what was read: the file's resolved path and the format asked for (which also
name the entry), its device, inode, size, mtime and ctime (any write changes the ctime, replacing
the file the inode), the format it was read as, and the sizes of the parts; a file that no
longer matches is parsed again and its entry replaced, as is an entry of another layout version.
Nothing in an entry is used before its checksum matches, and nothing is allocated on its word:
the parts are views of the mapped file, whose length the header's sizes must add up to. A
damaged entry is parsed afresh and rewritten, with one warning. A load with a limit takes the
first words of an entry when there is one, but writes none (it reads only the start of the
file); the repeats (for each row that repeated a word, how many words were kept before it) give
the warning the text would give, limit or not.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from d2l_lab.cache import lasting_cache_dir
from d2l_lab.embeddings.fasttext_bin import is_fasttext_bin, load_fasttext_bin
from d2l_lab.embeddings.vector_formats import FORMATS, checked_path, read_rows, source_label
from d2l_lab.embeddings.vector_rows import repeat_warnings
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.files import atomic_write

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

CACHED_FROM_BYTES = 1 << 24
"""Smaller files are not copied: they parse in a tenth of a second or so."""
_MAGIC = b"d2lvec\x00\x01"  # the last byte is the layout's version
_PREFIX = struct.Struct("<8sII")  # magic, CRC-32, header length
_MAX_HEADER_BYTES = 1 << 16
_ALIGN = 64


def load_vectors_cached(path: str | Path, limit: int | None = None, fmt: str = "auto",
                        warn: Callable[[str], None] | None = None,
                        progress: Progress | None = None) -> WordVectors:
    """`vector_formats.load_vectors`, through the cache for a file of `CACHED_FROM_BYTES` or more:
    the same words, vectors and warnings."""
    path = checked_path(path, limit, fmt)
    if fmt == "auto" and is_fasttext_bin(path):  # memory-mapped as it is: nothing to cache
        return load_fasttext_bin(path, limit, warn, progress)
    stamp = _stamp(path)
    if stamp[2] < CACHED_FROM_BYTES:
        rows, _ = read_rows(path, limit, fmt, progress)
        return _answer(rows.warnings(), warn, *rows.result())
    directory, problem = lasting_cache_dir()
    entry = None if directory is None else directory / "vectors" / _entry_name(path, fmt)
    identity = {"path": str(path.resolve()), "asked": fmt, "stamp": stamp}
    cached = _read_entry(entry, identity) if entry is not None and entry.is_file() else None
    if isinstance(cached, dict):
        return _from_entry(cached, path, limit, warn)
    rows, read_as = read_rows(path, limit, fmt, progress)
    notes = rows.warnings()
    words, matrix = rows.result()
    if entry is None:
        notes.append(f"cache {problem}: {path} is parsed again at every load (set D2L_LAB_CACHE to a writable "
                     "directory)")
    elif limit is None and _stamp(path) == stamp:  # not a file that changed while it was read
        header = {**identity, "format": read_as, "count": len(words), "dim": matrix.shape[1],
                  "first_repeat": rows.first_repeat}
        try:
            _write_entry(entry, header, words, matrix, np.asarray(rows.repeats_after, dtype="<i8"))
        except OSError as exc:
            notes.append(f"cannot cache {path} in {entry.parent} ({exc.strerror or exc}): it is parsed again at "
                         "every load")
    if cached is not None:  # a damaged entry: said once it is replaced (or cannot be)
        notes.insert(0, f"the cached copy of {path} was damaged ({cached}): read the file again")
    return _answer(notes, warn, words, matrix)


def _answer(notes: list[str], warn: Callable[[str], None] | None, words: list[str],
            matrix: np.ndarray) -> WordVectors:
    for message in notes if warn else ():
        warn(message)
    return WordVectors(words, matrix)


def _stamp(path: Path) -> list[int]:
    """What changes when a file is written or replaced: device, inode, size, mtime and ctime."""
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _entry_name(path: Path, fmt: str) -> str:
    return hashlib.sha256(f"{path.resolve()}\0{fmt}".encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".vec"


def _from_entry(entry: dict[str, Any], path: Path, limit: int | None,
                warn: Callable[[str], None] | None) -> WordVectors:
    """The vectors of a checked entry, the first `limit` words when given, with the warning the
    text gives for the rows it reads."""
    count, repeats = entry["count"], entry["repeats"]
    if limit is not None and limit <= count:  # the text stops at the limit's last word, before any later repeat
        count, repeats = limit, repeats[repeats < limit]
    notes = repeat_warnings(source_label(path, entry["format"]), len(repeats), entry["first_repeat"])
    return _answer(notes, warn, entry["words"][:count], entry["matrix"][:count])


def _read_entry(entry: Path, identity: dict[str, Any]) -> dict[str, Any] | str | None:
    """The entry's header with its `matrix` (memory-mapped), `words` and `repeats`; None when it
    belongs to another state of the file or another version of this layout (no harm done), else
    what is wrong with it. The checksum is checked first, so damage is never taken for staleness."""
    try:
        with open(entry, "rb") as f:
            magic, crc, header_bytes = _PREFIX.unpack(f.read(_PREFIX.size).ljust(_PREFIX.size, b"\0"))
            if magic[:-1] == _MAGIC[:-1] and magic != _MAGIC:
                return None
            size = os.fstat(f.fileno()).st_size
            if magic != _MAGIC or header_bytes > _MAX_HEADER_BYTES or size < _PREFIX.size + header_bytes:
                return "it is not a whole entry"
            view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if zlib.crc32(memoryview(view)[_PREFIX.size - 4:]) != crc:
            return "its checksum does not match"
        header = json.loads(view[_PREFIX.size:_PREFIX.size + header_bytes])
        layout = _layout(header, _PREFIX.size + header_bytes)
        if layout is None or layout["end"] != size:  # (the checksum matched: only a writer's mistake gets here)
            return "its header does not add up"
        if {key: header.get(key) for key in identity} != identity:
            return None
        count, dim = header["count"], header["dim"]
        words = view[layout["words"]:layout["repeats"]].decode("utf-8").split("\n")
    except (OSError, ValueError, RecursionError):  # unreadable, or a header that is not JSON
        return "it cannot be read"
    if len(words) != count or not isinstance(header.get("first_repeat"), str) or \
            header.get("format") not in FORMATS[1:]:
        return "its contents do not add up"
    return {**header, "words": words,
            "matrix": np.frombuffer(view, dtype="<f4", count=count * dim, offset=layout["matrix"]).reshape(count, dim),
            "repeats": np.frombuffer(view, dtype="<i8", count=layout["repeat_count"], offset=layout["repeats"])}


def _layout(header: Any, header_end: int) -> dict[str, int] | None:
    """Where each part starts, from the header's sizes; None when they are not sizes."""
    sizes = [header.get(key) if isinstance(header, dict) else None
             for key in ("count", "dim", "words_bytes", "repeat_count", "header_end")]
    if not all(type(size) is int and size >= 0 for size in sizes) or min(sizes[:2]) < 1 or sizes[4] != header_end:
        return None
    count, dim, words_bytes, repeat_count, _ = sizes
    words = header_end + 4 * count * dim
    return {"matrix": header_end, "words": words, "repeats": words + words_bytes, "repeat_count": repeat_count,
            "end": words + words_bytes + 8 * repeat_count}


def _write_entry(entry: Path, header: dict[str, Any], words: list[str], matrix: np.ndarray,
                 repeats: np.ndarray) -> None:
    words_blob = "\n".join(words).encode("utf-8")
    header = {**header, "words_bytes": len(words_blob), "repeat_count": len(repeats), "header_end": 0}
    size = len(json.dumps(header)) + 16  # room for header_end's own digits
    header["header_end"] = -(-(_PREFIX.size + size) // _ALIGN) * _ALIGN
    text = json.dumps(header).encode().ljust(header["header_end"] - _PREFIX.size)
    parts = [text, np.ascontiguousarray(matrix, dtype="<f4"), words_blob, repeats]
    crc = zlib.crc32(struct.pack("<I", len(text)))
    for part in parts:
        crc = zlib.crc32(memoryview(part).cast("B"), crc)

    def write(f: IO[bytes]) -> None:
        f.write(_PREFIX.pack(_MAGIC, crc, len(text)))
        for part in parts:
            f.write(memoryview(part).cast("B"))

    entry.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(entry, write)
