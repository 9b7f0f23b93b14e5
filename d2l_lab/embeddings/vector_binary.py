"""word2vec binary rows: the word, a space, `dim` little-endian float32, and a newline from the C
tool (gensim writes none), so a row ends where its floats end and the next word starts there.

The first space need not end the word: gensim writes a phrase key such as 'new york' as it is, and
reading it as 'new' puts the rows out of step, answering with "words" made of float bytes. So the
reader follows every reading of the bytes still possible (each row a valid word, see
`vector_rows.word_of`, a space, its floats), in the order of where their next row starts, and keeps
the rows all of them agree on: in a file without phrases, every row as it is read. A wrong reading
mostly dies within a row (its next "word" is float bytes), but it can also meet the right one at the
same byte, a few bytes into a word; from there both read the same, so the floats before decide:
read out of step, a float's exponent comes from a mantissa byte, and three in four land outside
`PLAUSIBLE`, where every trained vector's values are. With a handful of values per row that says
little: then the reading with fewer spaces in its words wins while no word kept holds one (a file
without phrases is read as gensim reads it, whatever its dimension), and once one does, the file
is refused as ambiguous. A file no reading gets through is refused at the furthest row one reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import numpy as np

from d2l_lab.embeddings.vector_rows import (
    CONTROL_BYTES,
    MAX_WORD_BYTES,
    Rows,
    word_fault,
    word_of,
)
from d2l_lab.errors import UserError

_READ_BYTES = 1 << 20
MAX_PENDING = 64
"""Rows the readings may disagree on before the file is refused as ambiguous (a wrong reading dies
or meets the right one within a few rows)."""
PLAUSIBLE = (1e-9, 1e9)
"""The magnitudes, besides 0, of a trained vector's values."""


@dataclass(slots=True)
class _Reading:
    rows: list[tuple[str, int]]  # not yet kept: (word, offset of its floats from the end of the header)
    read: int  # rows read in all
    tie: int = 0  # the first row at which another reading of the same bytes was as likely (0: none)


class _Stream:
    """The file's bytes from the first one still needed (`keep`), read as the rows need them."""

    def __init__(self, f: IO[bytes]):
        self.f, self.buf, self.base, self.keep, self.eof = f, b"", 0, 0, False

    def ensure(self, end: int) -> None:
        """Hold the bytes up to `end`, or all there are."""
        while not self.eof and self.base + len(self.buf) < end:
            more = self.f.read(max(_READ_BYTES, end - self.base - len(self.buf)))
            self.eof = not more
            self.buf, self.base = self.buf[self.keep - self.base:] + more, self.keep


def read_binary(f: IO[bytes], count: int, dim: int, rows: Rows) -> None:
    """Read the `count` rows after the header into `rows` (until it is full)."""
    stream, size = _Stream(f), 4 * dim
    readings = {0: _Reading([], 0)}  # by where its next row starts
    furthest = (0, 0, "")  # the furthest row a reading died at, where in the file, and why
    phrases = False  # whether a word kept so far holds a space
    while open_ := [start for start, reading in readings.items() if reading.read < count]:
        start = min(open_)  # every reading that can arrive here has arrived
        reading = readings.pop(start)
        row = reading.read + 1
        found = _splits(stream, start, count, dim)
        if isinstance(found, str):
            furthest = max(furthest, (row, start, found), key=lambda fault: fault[:2])
            found = []
        if not readings and not reading.rows and not reading.tie and len(found) == 1 and \
                (after := _after(stream, found[0][1], size)) >= 0:  # the usual: one reading, one way on
            rows.add(found[0][0], np.frombuffer(stream.buf, dtype="<f4", count=dim, offset=found[0][1] - stream.base), row)
            reading.read, readings[after], stream.keep = row, reading, after
            phrases = phrases or " " in found[0][0]
            if rows.full and row < count:
                return
            continue
        for word, floats in found:
            if (after := _after(stream, floats, size)) < 0:
                furthest = max(furthest, (row, floats, _ends_inside(count)), key=lambda fault: fault[:2])
                continue
            read = _Reading([*reading.rows, (word, floats)], row, reading.tie)
            readings[after] = _likelier(stream, readings[after], read, dim, phrases) if after in readings else read
        if not readings:
            raise UserError(f"{rows.source}, row {furthest[0]:,}: {furthest[2]}")
        kept = _keep(stream, readings, rows, dim)
        phrases = phrases or any(" " in word for word, _ in kept)
        if kept and rows.full and any(r.read < count for r in readings.values()):
            return  # (a full last row still checks what follows it)
    _check_end(stream, readings, rows, count, dim, phrases)


def _after(stream: _Stream, floats: int, size: int) -> int:
    """Where the next row starts after floats at `floats` (past the C tool's newline), or -1 where
    the file ends first."""
    end, held = floats + size, stream.base + len(stream.buf)
    return -1 if end > held else end + (end < held and stream.buf[end - stream.base] == 0x0A)


def _splits(stream: _Stream, start: int, count: int, dim: int) -> list[tuple[str, int]] | str:
    """Each (word, offset of its floats) that the row starting at `start` can be read as, the first
    space first, or why there is none. A word neither starts nor ends with a space, and a fault in
    a word is in every longer one, which ends the search."""
    stream.ensure(start + MAX_WORD_BYTES + 2 + 4 * dim)  # the longest word, a space, floats, a newline
    buf, at = stream.buf, start - stream.base
    stop = min(len(buf), at + MAX_WORD_BYTES + 1)
    space = buf.find(b" ", at, stop)
    word = word_of(buf[at:space]) if space >= 0 else None
    if word is None:
        return _fault(buf, at, space, stop, count, dim)
    splits = [(word, stream.base + space + 1)]
    while (space := buf.find(b" ", space + 1, stop)) >= 0 and not CONTROL_BYTES.search(buf, at, space):
        if buf[space - 1] == 0x20:
            continue
        if (word := word_of(buf[at:space])) is None:
            break
        splits.append((word, stream.base + space + 1))
    return splits


def _fault(buf: bytes, at: int, space: int, stop: int, count: int, dim: int) -> str:
    """Why no word starts the row at `at`."""
    if at == len(buf):
        return (f"the file ends before this row, but the header promises {count:,} vectors; fix the header's first "
                "number or re-download the file")
    if space >= 0:
        return f"{word_fault(buf[at:space])}; the file is damaged, or the header's dimension ({dim:,}) is wrong: re-export it"
    if stop - at > MAX_WORD_BYTES:
        return f"no space ends the word within {MAX_WORD_BYTES:,} bytes; the file is damaged or not word2vec binary"
    return _ends_inside(count)


def _keep(stream: _Stream, readings: dict[int, _Reading], rows: Rows, dim: int) -> list[tuple[str, int]]:
    """Keep the rows every reading left agrees on (all of them, once one is left), and return them."""
    first_reading = next(iter(readings.values()))
    if len(readings) == 1:
        agreed = len(first_reading.rows)
    else:
        pending = [reading.rows for reading in readings.values()]
        agreed = next((i for i, same in enumerate(zip(*pending)) if len(set(same)) > 1), min(map(len, pending)))
        if max(map(len, pending)) - agreed > MAX_PENDING:
            raise _ambiguous(rows, first_reading, agreed + 1, f"{MAX_PENDING} rows on, they still differ")
    if not agreed:
        return []
    first = first_reading.read - len(first_reading.rows) + 1
    if ties := [reading.tie for reading in readings.values() if 0 < reading.tie < first + agreed]:
        raise _ambiguous(rows, first_reading, min(ties) - first + 1, "two readings are as likely")
    kept = first_reading.rows[:agreed]
    for number, (word, floats) in enumerate(kept, start=first):
        if rows.full:
            break
        rows.add(word, np.frombuffer(stream.buf, dtype="<f4", count=dim, offset=floats - stream.base), number)
    for reading in readings.values():
        del reading.rows[:agreed]
    stream.keep = min(reading.rows[0][1] if reading.rows else start for start, reading in readings.items())
    return kept


def _check_end(stream: _Stream, readings: dict[int, _Reading], rows: Rows, count: int, dim: int,
               phrases: bool) -> None:
    """After the last row only whitespace may follow, and in one reading (or the likeliest)."""
    done: dict[int, _Reading] = {}
    for start, reading in readings.items():
        stream.ensure(start + _READ_BYTES)
        if stream.eof and not stream.buf[start - stream.base:].strip():
            done = {start: _likelier(stream, *done.values(), reading, dim, phrases) if done else reading}
    if not done:
        raise UserError(f"{rows.source}: the header promises {count:,} vectors but the file has more data after "
                        f"row {count:,}; fix the header's first number")
    _keep(stream, done, rows, dim)


def _likelier(stream: _Stream, first: _Reading, second: _Reading, dim: int, phrases: bool) -> _Reading:
    """Of two readings of the same bytes, the one whose floats are not out of step; else (a handful
    of values says little), while no word kept holds a space, the one with fewer spaces in its
    words, as gensim and the C tool read a file; else the first, marked as tied (refused if kept)."""
    odd = [_implausible(stream, reading, dim) for reading in (first, second)]
    if odd[0] != odd[1]:
        return first if odd[0] < odd[1] else second
    spaces = [sum(word.count(" ") for word, _ in reading.rows) for reading in (first, second)]
    if spaces[0] != spaces[1] and not phrases:
        return first if spaces[0] < spaces[1] else second
    apart = next((i for i, pair in enumerate(zip(first.rows, second.rows)) if pair[0] != pair[1]),
                 min(len(first.rows), len(second.rows)))
    first.tie = min(filter(None, (first.tie, second.tie, first.read - len(first.rows) + 1 + apart)))
    return first


def _implausible(stream: _Stream, reading: _Reading, dim: int) -> int:
    """How many values of its rows not yet kept no trained vector holds (NaN and infinity too)."""
    if not reading.rows:
        return 0
    values = np.abs(np.concatenate([np.frombuffer(stream.buf, dtype="<f4", count=dim, offset=floats - stream.base)
                                    for _, floats in reading.rows]))
    low, high = PLAUSIBLE
    return int(values.size - np.count_nonzero((values == 0) | ((values >= low) & (values <= high))))


def _ends_inside(count: int) -> str:
    return f"the file ends inside this row, but the header promises {count:,} vectors; re-download it or fix the header"


def _ambiguous(rows: Rows, reading: _Reading, offset: int, why: str) -> UserError:
    """`offset`: the first row in doubt, counted from the reading's first row not yet kept."""
    row = reading.read - len(reading.rows) + offset
    return UserError(f"{rows.source}, row {row:,}: the bytes from here can be read as more than one list of words "
                     f"({why}: a word holding a space?); save the vectors as word2vec text, such words joined by '_'")
