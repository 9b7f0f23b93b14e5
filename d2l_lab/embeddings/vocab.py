"""The word2vec vocabulary: frequent words only, as integer ids ordered by frequency.

Unlike the book's `Vocab` there is no `<unk>`: word2vec (the C tool, gensim) simply drops rare
words, so they neither become one huge pseudo-word nor shift the window. Counting goes through
`np.unique` over the whole token array, so building PTB's vocabulary costs no Python loop per
token beyond splitting the text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Vocab:
    """Words with `count >= min_count`, most frequent first (ties: first occurrence first).

    Frequency order makes id 0 the most common word and keeps the hot rows of the embedding
    tables together; the tie rule makes the order independent of string sorting.
    """

    def __init__(self, sentences: Sequence[Sequence[str]], min_count: int = 5) -> None:
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        tokens = _flatten(sentences)
        unique, first, inverse, counts = np.unique(
            tokens, return_index=True, return_inverse=True, return_counts=True)
        keep = counts >= min_count
        order = np.lexsort((first[keep], -counts[keep]))  # count descending, then first seen
        kept = np.flatnonzero(keep)[order]
        self.words: list[str] = unique[kept].tolist()
        self.counts: np.ndarray = counts[kept].astype(np.int64)
        self.index: dict[str, int] = {word: i for i, word in enumerate(self.words)}
        self.min_count = min_count
        self.total_tokens = int(tokens.size)
        """Tokens of the corpus before dropping rare words (what raw words/s is measured on)."""
        # Ids of the corpus tokens (-1: too rare), so that encoding the very corpus the
        # vocabulary was built from (the usual case) needs no second string sort.
        lookup = np.full(unique.size, -1, dtype=np.int64)
        lookup[kept] = np.arange(kept.size)
        self._corpus_ids = lookup[inverse.reshape(-1)]
        self._corpus: Sequence[Sequence[str]] | None = sentences

    @classmethod
    def from_counts(cls, words: Sequence[str], counts: Sequence[int] | np.ndarray, min_count: int,
                    total_tokens: int) -> Vocab:
        """A vocabulary counted elsewhere (`encoded_corpus.count_vocab`, a cache): `words` already
        in this class's order, each seen `counts` >= min_count times, out of `total_tokens`."""
        vocab = cls.__new__(cls)
        vocab.words = list(words)
        vocab.counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if vocab.counts.size != len(vocab.words):
            raise ValueError(f"{len(vocab.words)} words but {vocab.counts.size} counts")
        vocab.index = {word: i for i, word in enumerate(vocab.words)}
        vocab.min_count = min_count
        vocab.total_tokens = int(total_tokens)
        vocab._corpus_ids = np.empty(0, dtype=np.int64)
        vocab._corpus = None
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def encode(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of all in-vocabulary tokens as one flat array, plus each sentence's start offset.

        The flat layout lets samplers work on whole arrays; out-of-vocabulary tokens are
        dropped (so windows reach over them, as in the C tool). `offsets` has one entry per
        sentence plus a final one equal to `len(ids)`; empty sentences repeat an offset.
        Encoding the very list the vocabulary was built from reuses the ids found while
        counting (half the cost of PTB's preparation), so do not modify it in between.
        """
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        if sentences is self._corpus and int(lengths.sum()) == self._corpus_ids.size:
            ids = self._corpus_ids
        else:
            tokens = _flatten(sentences)
            unique, inverse = np.unique(tokens, return_inverse=True)
            lookup = np.array([self.index.get(w, -1) for w in unique.tolist()], dtype=np.int64)
            ids = lookup[inverse.reshape(-1)]
        known = ids >= 0
        sentence_of = np.repeat(np.arange(len(sentences)), lengths)
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum(np.bincount(sentence_of[known], minlength=len(sentences)), out=offsets[1:])
        return ids[known], offsets


def _flatten(sentences: Sequence[Sequence[str]]) -> np.ndarray:
    """All tokens as one numpy string array (the only per-token Python work)."""
    flat = [token for sentence in sentences for token in sentence]
    return np.array(flat, dtype=str) if flat else np.array([], dtype=str)
