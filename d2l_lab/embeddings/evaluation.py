"""Intrinsic evaluation: word similarity (Spearman's rho against human scores) and analogies.

Conventions follow gensim's `evaluate_word_pairs` / `evaluate_word_analogies`, so numbers are
comparable with published ones: words are matched case-insensitively (a lower-cased word maps
to its most frequent spelling), items with a word outside the vocabulary are skipped and
counted, and an analogy's three question words are never accepted as its answer. Only the
vocabulary counts as known: an `oov_vector` hook is not used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from d2l_lab.embeddings.vectors import WordVectors, analogy_scores, check_analogy_method
from d2l_lab.errors import UserError

_BATCH_SCORES = 1 << 23  # question x candidate scores held at once (32 MB of float32)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation with average ranks for ties; NaN when a side is constant."""
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    if rx.shape != ry.shape or rx.ndim != 1:
        raise ValueError(f"spearman needs two 1-D sequences of equal length, got {rx.shape} and {ry.shape}")
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((dx @ dx) * (dy @ dy))
    return float(dx @ dy / denominator) if denominator > 0 else float("nan")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def evaluate_similarity(vectors: WordVectors, pairs: Sequence[tuple[str, str, float]]) -> dict[str, Any]:
    """rho between cosine similarities and human scores over the pairs whose words are both known."""
    lookup = _lowercase_index(vectors.words, len(vectors))
    used = [(lookup[w1.lower()], lookup[w2.lower()], score) for w1, w2, score in pairs
            if w1.lower() in lookup and w2.lower() in lookup]
    rho = float("nan")
    if len(used) >= 2:
        first, second, human = (np.array(column) for column in zip(*used))
        model = np.einsum("ij,ij->i", vectors.unit[first], vectors.unit[second])
        rho = spearman(model, human)
    return {"rho": rho, "pairs_used": len(used), "pairs_oov": len(pairs) - len(used)}


def evaluate_analogies(
    vectors: WordVectors,
    questions: Sequence[tuple[str, str, str, str, str]],
    restrict_vocab: int | None = 30000,
    method: str = "3cosadd",
) -> dict[str, Any]:
    """Accuracy on (section, a, b, c, expected) questions, overall and per section.

    Only the `restrict_vocab` most frequent words are candidates, and a question using any
    other word is skipped as out of vocabulary (the published protocol, and much faster).
    """
    check_analogy_method(method)
    if restrict_vocab is not None and restrict_vocab < 1:
        raise UserError(f"restrict_vocab must be a positive number of words (or None for all), got {restrict_vocab}")
    n = len(vectors) if restrict_vocab is None else min(restrict_vocab, len(vectors))
    lookup = _lowercase_index(vectors.words, n)
    sections: dict[str, dict[str, Any]] = {}
    known: list[tuple[str, int, int, int, int]] = []
    for section, *words in questions:
        stats = sections.setdefault(section, {"correct": 0, "questions_used": 0, "questions_oov": 0})
        ids = [lookup.get(w.lower()) for w in words]
        if None in ids:
            stats["questions_oov"] += 1
        else:
            stats["questions_used"] += 1
            known.append((section, *ids))
    unit = vectors.unit[:n]
    batch = max(1, _BATCH_SCORES // (n * (3 if method == "3cosmul" else 1)))
    for start in range(0, len(known), batch):
        chunk = known[start:start + batch]
        a, b, c, expected = (np.array(column) for column in list(zip(*chunk))[1:])
        scores = analogy_scores(unit, unit[a], unit[b], unit[c], method)
        rows = np.arange(len(chunk))
        for question_words in (a, b, c):
            scores[rows, question_words] = -np.inf
        for (section, *_), hit in zip(chunk, scores.argmax(axis=1) == expected):
            sections[section]["correct"] += int(hit)
    for stats in sections.values():
        stats["accuracy"] = _ratio(stats["correct"], stats["questions_used"])
    correct = sum(s["correct"] for s in sections.values())
    return {
        "accuracy": _ratio(correct, len(known)),
        "correct": correct,
        "questions_used": len(known),
        "questions_oov": len(questions) - len(known),
        "sections": sections,
    }


def _lowercase_index(words: Sequence[str], n: int) -> dict[str, int]:
    """Lower-cased word -> index among the first n, the most frequent spelling winning."""
    lookup: dict[str, int] = {}
    for i in range(n):
        lookup.setdefault(words[i].lower(), i)
    return lookup


def _ratio(correct: int, total: int) -> float:
    return correct / total if total else float("nan")
