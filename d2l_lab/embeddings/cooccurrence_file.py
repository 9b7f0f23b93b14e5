"""GloVe's co-occurrence entries on disk, as the GloVe tool's `cooccur` writes them: one binary
record per non-zero x_ij, (row int32, col int32, value float64), sorted by (row, col).

Training reads them a block at a time (`embeddings.glove.shuffle`), so that a run's memory follows
its block size, not the corpus's distinct pairs. The file starts with a 64-byte header (a magic
number, the vocabulary size, the window, the number of records and the sha256 of the records), and
`open_entries` checks all of it, the size and the checksum included, before a run trusts the file:
a truncated, foreign or damaged file is rebuilt by the caller, never trained on. The value stays
float64, as counted, so training computes log x and h(x) from the same numbers as in memory.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np

RECORD = np.dtype([("row", "<i4"), ("col", "<i4"), ("value", "<f8")])
_MAGIC = b"D2LCOOC1"
_HEADER = struct.Struct("<8sqqq32s")  # magic, vocab size, window, records, sha256 of the records
_HASH_BLOCK = 1 << 20
"""Records checksummed at once (16 MiB): the check's memory is bounded whatever the file's size."""


class Entries(Protocol):
    """Non-zero x_ij, sorted by (row, col), read by position: a file (`EntriesFile`) or arrays in
    memory (`cooccurrence.Cooccurrences`)."""

    vocab_size: int

    @property
    def nnz(self) -> int: ...

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Records lo..hi-1 as a `RECORD` array."""


@dataclass(frozen=True)
class EntriesFile:
    """A checked entries file (`open_entries`); `read` refuses a file cut short since."""

    path: Path
    vocab_size: int
    nnz: int

    def read(self, lo: int, hi: int) -> np.ndarray:
        records = np.fromfile(self.path, dtype=RECORD, count=hi - lo, offset=_HEADER.size + lo * RECORD.itemsize)
        if records.size != hi - lo:
            raise ValueError(f"{self.path} holds fewer than the {self.nnz} co-occurrence entries it was checked with")
        return records


def records_of(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Coordinate arrays as one `RECORD` array."""
    records = np.empty(values.size, dtype=RECORD)
    records["row"], records["col"], records["value"] = rows, cols, values
    return records


def write_entries(f: IO[bytes], blocks: Iterable[np.ndarray], vocab_size: int, window: int) -> int:
    """Write `blocks` (`RECORD` arrays, in order) after a header that names them; returns the
    number of records. `f` must be seekable: the header, written last, holds their checksum."""
    f.write(bytes(_HEADER.size))
    digest, count = hashlib.sha256(), 0
    for block in blocks:
        data = np.ascontiguousarray(block, dtype=RECORD).tobytes()
        digest.update(data)
        f.write(data)
        count += block.size
    f.seek(0)
    f.write(_HEADER.pack(_MAGIC, vocab_size, window, count, digest.digest()))
    return count


def open_entries(path: Path, vocab_size: int, window: int) -> EntriesFile | None:
    """The file at `path` if it is whole and made for this vocabulary size and window, else None
    (missing, foreign, truncated, extended or damaged: its size and checksum are checked)."""
    try:
        with open(path, "rb") as f:
            magic, vocab, win, count, checksum = _HEADER.unpack(f.read(_HEADER.size))
            if (magic, vocab, win) != (_MAGIC, vocab_size, window) or count < 0:
                return None
            f.seek(0, 2)
            if f.tell() != _HEADER.size + count * RECORD.itemsize:
                return None
            f.seek(_HEADER.size)
            digest = hashlib.sha256()
            while data := f.read(_HASH_BLOCK * RECORD.itemsize):
                digest.update(data)
    except (OSError, struct.error):
        return None
    return EntriesFile(path, vocab_size, count) if digest.digest() == checksum else None
