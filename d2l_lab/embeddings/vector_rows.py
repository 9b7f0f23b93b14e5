"""What a row of a vectors file may hold, and where the rows go.

One rule for words in every format: valid UTF-8, no control character (a NUL, a tab or a line
break inside a word is damage, and a corpus holding one is refused too), at most `MAX_WORD_BYTES`,
read in Unicode NFC so that the two spellings of 'café' (precomposed, or 'e' and a combining
accent as macOS writes it) are one word. A word read twice keeps its first row, as gensim does,
and the repeats are counted for one warning.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError

MAX_WORD_BYTES = 4096
"""Longer than any real token (the C tool cuts words at 100 bytes); it bounds the search for the
end of a binary word, which would otherwise read a damaged file to its end."""

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
_CHUNK_VALUES = 1 << 22  # floats per growth chunk when the word count is not known up front


def word_of(raw: bytes) -> str | None:
    """The word `raw` spells, in NFC, or None when no vectors file should hold it (`word_fault`
    says why: kept apart, since the binary reader tries and refuses a word at nearly every row)."""
    if not raw or len(raw) > MAX_WORD_BYTES:
        return None
    if raw.isascii():  # most words: already NFC
        return None if CONTROL_BYTES.search(raw) else raw.decode("ascii")
    try:
        word = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if CONTROL.search(word) else unicodedata.normalize("NFC", word)


def word_fault(raw: bytes) -> str:
    """Why `word_of` refuses `raw`."""
    if not raw:
        return "the word is empty"
    if len(raw) > MAX_WORD_BYTES:
        return f"the word is {len(raw):,} bytes long, more than the {MAX_WORD_BYTES:,} any word needs " \
               f"({clip(ascii(raw[:60]), 40)})"
    try:
        word = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"the word is not valid UTF-8 ({clip(ascii(raw[:100]), 60)})"
    bad = CONTROL.search(word)
    return f"the word holds a control character, {ascii(bad.group())[1:-1]} ({clip(ascii(word[:100]), 60)})"


def repeat_warnings(source: str, repeats: int, first_repeat: str) -> list[str]:
    """One line for all repeated words (none without any): a file with repeats is suspect, but
    still answers. `first_repeat` names the first one, as `'word' at line 12`."""
    if not repeats:
        return []
    rows = "1 row repeats a word" if repeats == 1 else f"{repeats:,} rows repeat a word"
    return [f"{source}: {rows} read before (first {first_repeat}; the two Unicode forms of a word count as one): "
            "each word keeps its first row, as gensim does"]


class Rows:
    """Collects vectors: one block when the final count is known, else fixed-size chunks joined
    once at the end (memory peaks near twice the result).

    A header's count is trusted for the block only when the file's `room` (its size in bytes, when
    not compressed) could hold that many vectors at 2 bytes a value at least (text: a digit and a
    separator; binary: 4); a header that lies about a huge count costs chunks, not its promise in
    memory, and the reader then reports the lie where the file ends."""

    def __init__(self, source: str, unit: str, dim: int, count: int | None, limit: int | None,
                 room: int | None = None):
        self.source, self.unit, self.dim, self.limit = source, unit, dim, limit
        if count is not None and room is not None and count * dim * 2 > room:
            count = None
        known = count if count is None or limit is None else min(count, limit)
        self.chunk_rows = known or max(1, _CHUNK_VALUES // dim)
        self.blocks = [self._allocate(self.chunk_rows if limit is None else min(self.chunk_rows, limit))]
        self.used = 0
        self.words: list[str] = []
        self.seen: set[str] = set()
        self.repeats_after: list[int] = []
        """For each repeated row, how many words were kept before it: a cached copy of the whole
        file (`vector_cache`) tells from it which repeats a limit would have read."""
        self.first_repeat = ""

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.words) >= self.limit

    def add(self, word: str, values: np.ndarray, number: int) -> None:
        """Keep `word`'s vector unless the word was read before; `number` is its row's (or line's)."""
        if not np.isfinite(values).all():  # NaN breaks every similarity; refuse before it spreads
            bad = values[~np.isfinite(values)][0]
            raise UserError(f"{self.source}, {self.unit} {number:,}: the vector of '{clip(word, 40)}' holds {bad}, "
                            "not a finite float32; re-export the vectors (a diverged training writes such values)")
        if word in self.seen:
            self._repeat(word, number)
            return
        if self.used == len(self.blocks[-1]):
            self.blocks.append(self._allocate(self.chunk_rows))
            self.used = 0
        self.blocks[-1][self.used] = values
        self.used += 1
        self.words.append(word)
        self.seen.add(word)

    def add_many(self, words: list[str], matrix: np.ndarray, numbers: list[int]) -> None:
        """`add` for a block of rows whose values the caller has checked finite, until the limit:
        the text reader's common case, with one copy of the block instead of one per row."""
        kept: list[int] = []
        for i, word in enumerate(words):
            if self.limit is not None and len(self.words) >= self.limit:
                break
            if word in self.seen:
                self._repeat(word, numbers[i])
                continue
            self.words.append(word)
            self.seen.add(word)
            kept.append(i)
        rest = matrix if len(kept) == len(matrix) else matrix[kept]
        while len(rest):
            if self.used == len(self.blocks[-1]):
                self.blocks.append(self._allocate(self.chunk_rows))
                self.used = 0
            take = min(len(rest), len(self.blocks[-1]) - self.used)
            self.blocks[-1][self.used:self.used + take] = rest[:take]
            self.used += take
            rest = rest[take:]

    def _repeat(self, word: str, number: int) -> None:
        self.repeats_after.append(len(self.words))
        self.first_repeat = self.first_repeat or f"'{clip(word, 40)}' at {self.unit} {number:,}"

    def warnings(self) -> list[str]:
        return repeat_warnings(self.source, len(self.repeats_after), self.first_repeat)

    def result(self) -> tuple[list[str], np.ndarray]:
        """The words and their vectors in one exact-size array, so no unused rows stay allocated."""
        last = self.blocks[-1]
        self.blocks[-1] = last[: self.used]
        if len(self.blocks) > 1:
            matrix = np.concatenate(self.blocks)
        else:
            matrix = last if self.used == len(last) else last[: self.used].copy()
        self.blocks.clear()
        return self.words, matrix

    def _allocate(self, rows: int) -> np.ndarray:
        try:
            return np.empty((rows, self.dim), dtype=np.float32)
        except (MemoryError, ValueError):  # ValueError: more bytes than an array can address
            raise UserError(f"{self.source}: {rows:,} x {self.dim:,} floats do not fit in memory; pass a limit "
                            "to load only the most frequent words, or fix the header") from None
