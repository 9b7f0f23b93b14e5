"""Byte-pair encoding as the book's "Subword Embedding" section teaches it.

Learning: each word becomes its characters plus the end-of-word marker ``_`` (``fast`` ->
``f a s t _``); then, again and again, the adjacent symbol pair most frequent over all words
(weighted by word count) is merged everywhere. Segmenting applies the learned merges by rank, as
standard BPE does. Merges only ever concatenate, so a word's pieces always join back to
``word + "_"``, and a character never seen in training simply stays a piece of its own.

Ties follow the book's ``max(pairs, key=pairs.get)`` over a dict filled word by word, left to
right: among the pairs with the highest count, the one occurring first wins, first meaning the
earliest word in ``word_counts`` order, then the leftmost position in that word. Learning keeps
pair counts up to date incrementally (an index from each pair to the words containing it, and a
lazy max-heap), so a merge costs only the words it touches instead of a recount of the corpus.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from d2l_lab.errors import UserError
from d2l_lab.files import read_utf8_text
from d2l_lab.files import atomic_write_text

EOW = "_"
"""End-of-word marker, the last symbol of every word (the book's ``'fast_'``)."""

HEADER = "#d2l-lab bpe merges v1"

Pair = tuple[str, str]


def learn_merges(word_counts: Mapping[str, int], num_merges: int) -> list[Pair]:
    """Learn up to `num_merges` merges, most frequent pair first (ties: see the module doc).

    Like the book, a pair seen once still merges; fewer merges come back only when no pair is
    left, i.e. every word has become a single symbol. Words with a count below 1 are ignored.
    """
    if num_merges < 0:
        raise ValueError(f"num_merges must be >= 0, got {num_merges}")
    learner = _Learner(word_counts)
    merges: list[Pair] = []
    while len(merges) < num_merges and (best := learner.pop_best()) is not None:
        learner.merge(best)
        merges.append(best)
    return merges


def _merge(symbols: list[str], left: str, right: str) -> list[str]:
    """Merge every occurrence of (left, right), scanning left to right (``a a a`` -> ``aa a``)."""
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
            out.append(left + right)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _first_offset(symbols: list[str], pair: Pair) -> int | None:
    """Character offset of the first occurrence of `pair` in a word, None if absent."""
    offset = 0
    for adjacent in zip(symbols, symbols[1:]):
        if adjacent == pair:
            return offset
        offset += len(adjacent[0])
    return None


class _Learner:
    """Pair counts of the current segmentation, updated around each merged position.

    `where[pair]` holds every word containing the pair, and possibly words that no longer do
    (pruned when found). The heap holds (-count, word, offset, pair) with an *optimistic* first
    occurrence, never later than the true one: adding occurrences only moves the bound earlier,
    removals leave it stale. The top entry is checked against the true first occurrence before
    it wins, so a stale bound costs a re-push, never a wrong pick.
    """

    def __init__(self, word_counts: Mapping[str, int]) -> None:
        items = [(word, count) for word, count in word_counts.items() if count >= 1]
        self.words = [[*word, EOW] for word, _ in items]
        self.weights = [count for _, count in items]
        self.count: dict[Pair, int] = {}
        self.where: dict[Pair, set[int]] = {}
        self.first: dict[Pair, tuple[int, int]] = {}
        for w, symbols in enumerate(self.words):
            offset = 0
            for pair in zip(symbols, symbols[1:]):
                self.count[pair] = self.count.get(pair, 0) + self.weights[w]
                self.where.setdefault(pair, set()).add(w)
                self.first.setdefault(pair, (w, offset))
                offset += len(pair[0])
        self.heap = [(-n, *self.first[pair], pair) for pair, n in self.count.items()]
        heapq.heapify(self.heap)

    def pop_best(self) -> Pair | None:
        while self.heap:
            neg, w, offset, pair = heapq.heappop(self.heap)
            if self.count.get(pair) != -neg or self.first[pair] != (w, offset):
                continue  # superseded by a newer entry
            exact = self._first_occurrence(pair)
            if exact == (w, offset):
                return pair
            self.first[pair] = exact
            heapq.heappush(self.heap, (neg, *exact, pair))
        return None

    def _first_occurrence(self, pair: Pair) -> tuple[int, int]:
        words = self.where[pair]
        while True:
            w = min(words)
            offset = _first_offset(self.words[w], pair)
            if offset is not None:
                return w, offset
            words.discard(w)

    def merge(self, best: Pair) -> None:
        left, right = best
        joined = left + right
        changed: set[Pair] = set()
        for w in self.where.pop(best):
            old, new = self.words[w], []
            removed: set[int] = set()  # pairs (old[k], old[k + 1]) that the merge breaks
            added: set[int] = set()  # pairs (new[k], new[k + 1]) that it creates
            i, n = 0, len(old)
            while i < n:
                if i + 1 < n and old[i] == left and old[i + 1] == right:
                    removed.update((i - 1, i, i + 1))
                    added.update((len(new) - 1, len(new)))
                    new.append(joined)
                    i += 2
                else:
                    new.append(old[i])
                    i += 1
            if not added:
                continue  # a stale entry of where[best]
            weight = self.weights[w]
            for k in removed:
                if 0 <= k < n - 1:
                    pair = old[k], old[k + 1]
                    self.count[pair] -= weight
                    changed.add(pair)
            for k in added:
                if 0 <= k < len(new) - 1:
                    pair = new[k], new[k + 1]
                    self.count[pair] = self.count.get(pair, 0) + weight
                    self.where.setdefault(pair, set()).add(w)
                    self.first[pair] = min(self.first.get(pair, (w, 0)), (w, 0))
                    changed.add(pair)
            self.words[w] = new
        for pair in changed:
            n = self.count[pair]
            if n == 0:
                del self.count[pair], self.first[pair]
                self.where.pop(pair, None)
            else:
                heapq.heappush(self.heap, (-n, *self.first[pair], pair))


class Segmenter:
    """Segments words with learned merges, lowest rank first (standard BPE application).

    Built once per merges list and caching each word, since running text repeats words.
    """

    def __init__(self, merges: Sequence[Pair]) -> None:
        self.ranks: dict[Pair, int] = {}
        for rank, pair in enumerate(merges):
            self.ranks.setdefault(pair, rank)
        self._cache: dict[str, list[str]] = {}

    def word(self, word: str) -> list[str]:
        """Pieces of `word`; the last ends with ``_`` and ``"".join(pieces) == word + "_"``."""
        cached = self._cache.get(word)
        if cached is None:
            cached = self._cache[word] = self._segment(word)
        return list(cached)

    def _segment(self, word: str) -> list[str]:
        symbols = [*word, EOW]
        while len(symbols) > 1:
            best = min(zip(symbols, symbols[1:]), key=lambda pair: self.ranks.get(pair, math.inf))
            if best not in self.ranks:
                break
            symbols = _merge(symbols, *best)
        return symbols

    def text(self, line: str) -> str:
        """A line's words as pieces, everything joined by single spaces (see `segment_text`)."""
        return " ".join(piece for word in line.split() for piece in self.word(word))


def apply_merges(word: str, merges: Sequence[Pair]) -> list[str]:
    """Pieces of one word; for many words build one `Segmenter` instead."""
    return Segmenter(merges).word(word)


def segment_text(line: str, merges: Sequence[Pair]) -> str:
    """Replace each word of `line` by its pieces; pieces and words alike are space-separated.

    No extra separator is needed: only a word's last piece ends with ``_``, so `decode_text`
    recovers the words, as long as no word itself contains ``_``.
    """
    return Segmenter(merges).text(line)


def decode_text(segmented: str) -> str:
    """Inverse of `segment_text`: drop the spaces between pieces, turn each ``_`` into a space."""
    return "".join(segmented.split()).replace(EOW, " ").strip()


def symbol_vocabulary(words: Iterable[str], merges: Sequence[Pair]) -> list[str]:
    """The book's ``symbols`` list: the characters of `words` and ``_``, then each merged symbol."""
    base = sorted({char for word in words for char in word} | {EOW})
    return list(dict.fromkeys([*base, *(left + right for left, right in merges)]))


def segment_BPE(tokens: Iterable[str], symbols: Iterable[str]) -> list[str]:  # noqa: N802 (the book's name)
    """The book's greedy segmentation: longest known symbol first, ``[UNK]`` for a stuck rest.

    Kept to reproduce the book's printed output; it ignores merge order, so it can differ from
    `apply_merges`, which is what the CLI uses.
    """
    vocabulary = set(symbols)
    outputs = []
    for token in tokens:
        start, end = 0, len(token)
        pieces = []
        while start < len(token) and start < end:
            if token[start:end] in vocabulary:
                pieces.append(token[start:end])
                start, end = end, len(token)
            else:
                end -= 1
        if start < len(token):
            pieces.append("[UNK]")
        outputs.append(" ".join(pieces))
    return outputs


def save_merges(path: str | Path, merges: Sequence[Pair]) -> None:
    """Write the header, then one ``left right`` line per merge, atomically."""
    for pair in merges:
        if any(symbol.split() != [symbol] for symbol in pair):
            raise ValueError(f"merge {pair!r}: symbols must be non-empty and contain no whitespace")
    atomic_write_text(path, "\n".join([HEADER, *(f"{left} {right}" for left, right in merges)]) + "\n")


def load_merges(path: str | Path) -> list[Pair]:
    """Read a merges file written by `save_merges`; every problem is a one-line UserError."""
    path = Path(path)
    fix = f"give a file written by `d2l bpe learn CORPUS --merges N -o {path}`"
    text = read_utf8_text(path, "merges file", fix)
    lines = text.split("\n")
    if lines[0].rstrip() != HEADER:
        raise UserError(f"merges file '{path}' does not start with the line '{HEADER}': {fix}")
    merges = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise UserError(f"merges file '{path}' line {number} is not 'LEFT RIGHT' (two symbols): {fix}")
        merges.append((fields[0], fields[1]))
    return merges
