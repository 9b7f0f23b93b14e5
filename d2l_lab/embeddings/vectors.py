"""Word vectors in memory, and the queries the D2L chapters ask of them.

Everything is cosine based. Analogies and evaluation score against a unit-normalised copy of the
matrix, computed once, lazily; a nearest-neighbour query divides one matrix-vector product by the
rows' norms instead, so a single `d2l embed similar` on 400,000 x 300 vectors neither writes a
480 MB copy nor waits for one.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from d2l_lab.errors import UserError

ANALOGY_METHODS = ("3cosadd", "3cosmul")
COSMUL_EPS = 1e-3  # Levy & Goldberg (2014): keeps 3CosMul finite when cos(x, a) is -1


_ROWS_AT_ONCE = 512
"""Rows of a large matrix normalised at a time, in cache: each row's norm and quotient come out the
same, and no temporary is the matrix's size (whole, a 400k x 300 one needs 480 MB for its squares)."""


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero instead of becoming NaN."""
    if matrix.ndim != 2 or len(matrix) <= _ROWS_AT_ONCE:
        return matrix / _norms(matrix)
    return matrix / row_norms(matrix)[:, None]


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """`_norms` of a [n, d] matrix as [n], a block of rows at a time (no temporary its size)."""
    norms = np.empty(len(matrix), dtype=np.result_type(matrix, np.float32))
    for start in range(0, len(matrix), _ROWS_AT_ONCE):
        norms[start:start + _ROWS_AT_ONCE] = _norms(matrix[start:start + _ROWS_AT_ONCE])[:, 0]
    return norms


def _norms(matrix: np.ndarray) -> np.ndarray:
    """Row norms, at least the smallest normal float32 (a zero row divided by it stays zero)."""
    return np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), np.finfo(np.float32).tiny)


def check_analogy_method(method: str) -> None:
    if method not in ANALOGY_METHODS:
        raise UserError(f"unknown analogy method {method!r}; use one of {', '.join(ANALOGY_METHODS)}")


def analogy_scores(unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, method: str) -> np.ndarray:
    """Score every row of `unit` [n, d] as the answer to a:b :: c:? for unit query rows [B, d].

    Shared by single queries and batched evaluation so both rank candidates identically.
    3CosAdd returns cos(x, b - a + c); 3CosMul returns cos'(x,b) cos'(x,c) / (cos'(x,a) + eps)
    with cos' = (cos + 1) / 2, so that no similarity is negative.
    """
    check_analogy_method(method)
    if method == "3cosadd":
        return normalize_rows(b - a + c) @ unit.T
    cos_a, cos_b, cos_c = (q @ unit.T for q in (a, b, c))
    # The same formula rearranged to (cos_b + 1)(cos_c + 1) / (2 (cos_a + 1 + 2 eps)), in place:
    # evaluation scores thousands of questions against the whole vocabulary at once.
    cos_b += 1
    cos_c += 1
    cos_b *= cos_c
    cos_a += 1 + 2 * COSMUL_EPS
    cos_a *= 2
    cos_b /= cos_a
    return cos_b


class WordVectors:
    """A vocabulary (most frequent word first when known) and its float32 matrix [V, d].

    `oov_vector`, when set, supplies vectors for words outside the vocabulary (fastText-style
    subwords); `in` still reports vocabulary membership only.
    """

    def __init__(
        self,
        words: Sequence[str],
        matrix: np.ndarray,
        oov_vector: Callable[[str], np.ndarray] | None = None,
    ):
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise UserError(
                f"{len(words):,} words but a vector matrix of shape {matrix.shape}; "
                "give exactly one row per word"
            )
        self.words = list(words)
        self.matrix = matrix
        self.index = dict(zip(self.words, range(len(self.words))))
        if len(self.index) != len(self.words):
            duplicate = next(w for w, n in Counter(self.words).items() if n > 1)
            raise UserError(f"word {duplicate!r} appears more than once; keep one vector per word")
        self.oov_vector = oov_vector
        self._unit: np.ndarray | None = None
        self._norms: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.position(word) is not None

    def position(self, word: str) -> int | None:
        """The word's row: as spelled, else in Unicode NFC, the form vector files are read in, so
        'café' typed as 'e' and a combining accent (as macOS writes it) still finds 'café'."""
        found = self.index.get(word)
        return found if found is not None else self.index.get(unicodedata.normalize("NFC", word))

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    @property
    def unit(self) -> np.ndarray:
        """The unit-normalised matrix, computed on first use."""
        if self._unit is None:
            self._unit = normalize_rows(self.matrix)
        return self._unit

    @property
    def norms(self) -> np.ndarray:
        """Each row's length, computed on first use."""
        if self._norms is None:
            self._norms = row_norms(self.matrix)
        return self._norms

    def vector(self, word: str) -> np.ndarray:
        """A copy of the word's vector (from `oov_vector` for unknown words, when set)."""
        if (found := self.position(word)) is not None:
            return self.matrix[found].copy()
        if self.oov_vector is not None:
            return self._checked(np.asarray(self.oov_vector(word), dtype=np.float32), f"oov_vector({word!r})")
        lower = word.lower()
        hint = f"did you mean {lower!r}?" if lower != word and lower in self.index else (
            "check spelling or lower-case it")
        raise UserError(f"word {word!r} is not in the vocabulary ({len(self):,} words); {hint}")

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words."""
        u1, u2 = normalize_rows(np.stack([self.vector(w1), self.vector(w2)]))
        return float(u1 @ u2)

    def most_similar(
        self, word_or_vector: str | np.ndarray, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The k nearest words by cosine, best first; a query word is never its own neighbour."""
        excluded = list(exclude)
        if isinstance(word_or_vector, str):
            query = self.vector(word_or_vector)
            excluded.append(word_or_vector)
        else:
            query = self._checked(np.asarray(word_or_vector, dtype=np.float32), "the query vector")
        scores = self.matrix @ normalize_rows(query)
        scores /= self.norms
        return self._top(scores, k, excluded)

    def analogy(self, a: str, b: str, c: str, k: int = 1, method: str = "3cosadd") -> list[tuple[str, float]]:
        """Answers to a:b :: c:? (b - a + c for 3CosAdd), best first, never a, b or c."""
        check_analogy_method(method)
        queries = normalize_rows(np.stack([self.vector(w) for w in (a, b, c)]))
        scores = analogy_scores(self.unit, *queries[:, None, :], method=method)[0]
        return self._top(scores, k, [a, b, c])

    def _checked(self, vector: np.ndarray, what: str) -> np.ndarray:
        if vector.shape != (self.dim,):
            raise UserError(f"{what} has shape {vector.shape} but these word vectors have dimension {self.dim}")
        return vector

    def _top(self, scores: np.ndarray, k: int, excluded: Iterable[str]) -> list[tuple[str, float]]:
        """Best k candidates; equal scores keep vocabulary (frequency) order, so results are stable."""
        if k < 1:
            raise UserError(f"k must be a positive number of results, got {k}")
        scores = scores.copy()
        scores[[i for i in map(self.position, excluded) if i is not None]] = -np.inf
        k = min(k, int(np.count_nonzero(scores > -np.inf)))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]
        return [(self.words[i], float(scores[i])) for i in best]
