"""Intrinsic evaluation: word similarity (Spearman's rho against human scores) and analogies.

The semantics are gensim's `evaluate_word_pairs` / `evaluate_word_analogies` (4.4) under the
options of a `protocol.Protocol`, so numbers can be set beside published ones: the vocabulary is
the `restrict_vocab` most frequent words; case-insensitively a word's upper-cased form maps to its
first (most frequent) spelling; an item with an unknown word is skipped or scored 0 / wrong; an
analogy's answer is the first of the top 5 candidates that is not (a case variant of) a question
word, compared by its matched form. Every result states its coverage. One deliberate difference:
a section none of whose questions could be asked has accuracy None (n/a), where gensim says 0.0.
Only the vocabulary counts as known: an `oov_vector` hook is not used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from d2l_lab.embeddings.protocol import ANALOGY_TOP, GENSIM_DEFAULT, Protocol
from d2l_lab.embeddings.vectors import WordVectors, analogy_scores, check_analogy_method

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


def evaluate_similarity(vectors: WordVectors, pairs: Sequence[tuple[str, str, float]],
                        protocol: Protocol = GENSIM_DEFAULT) -> dict[str, Any]:
    """rho between cosine similarities and human scores over the pairs whose words are both known
    (with `oov="zero"`, the others too, at similarity 0)."""
    lookup = _key_index(vectors.words, _restricted(vectors, protocol), protocol)
    first, second, human, zero_human = [], [], [], []
    for w1, w2, score in pairs:
        i, j = lookup.get(protocol.key(w1)), lookup.get(protocol.key(w2))
        if i is None or j is None:
            zero_human.append(score)
        else:
            first.append(i)
            second.append(j)
            human.append(score)
    model = np.einsum("ij,ij->i", vectors.unit[first], vectors.unit[second]).astype(np.float64)
    if protocol.oov == "zero":
        model, human = np.r_[model, np.zeros(len(zero_human))], [*human, *zero_human]
    rho = spearman(model, human) if len(human) >= 2 else float("nan")
    return {"rho": rho, **_coverage("pairs", len(first), len(pairs))}


def evaluate_analogies(
    vectors: WordVectors,
    questions: Sequence[tuple[str, str, str, str, str]],
    protocol: Protocol = GENSIM_DEFAULT,
) -> dict[str, Any]:
    """Accuracy on (section, a, b, c, expected) questions, overall and per section.

    Only the `restrict_vocab` most frequent words are candidates, and a question using any other
    word is out of vocabulary: skipped, or wrong with `oov="zero"`.
    """
    check_analogy_method(protocol.method)
    n = _restricted(vectors, protocol)
    lookup = _key_index(vectors.words, n, protocol)
    sections: dict[str, dict[str, Any]] = {}
    known: list[tuple[str, int, int, int, int]] = []
    for section, *words in questions:
        stats = sections.setdefault(section, {"correct": 0, "questions_used": 0, "questions_total": 0})
        stats["questions_total"] += 1
        ids = [lookup.get(protocol.key(w)) for w in words]
        if None not in ids:
            stats["questions_used"] += 1
            known.append((section, *ids))
    # Each candidate's matched form, as the index of its first spelling: 'King' answers 'king'.
    form = np.array([lookup[protocol.key(w)] for w in vectors.words[:n]], dtype=np.int64)
    unit = vectors.unit[:n]
    batch = max(1, _BATCH_SCORES // (n * (3 if protocol.method == "3cosmul" else 1)))
    for start in range(0, len(known), batch):
        chunk = known[start:start + batch]
        a, b, c, expected = (np.array(column) for column in list(zip(*chunk))[1:])
        answers = _answers(analogy_scores(unit, unit[a], unit[b], unit[c], protocol.method), form, a, b, c)
        for (section, *_), hit in zip(chunk, answers == expected):
            sections[section]["correct"] += int(hit)
    for stats in sections.values():
        stats.update(_analogy_score(stats["correct"], stats["questions_used"], stats["questions_total"], protocol))
    correct = sum(s["correct"] for s in sections.values())
    return {**_analogy_score(correct, len(known), len(questions), protocol), "sections": sections}


def _answers(scores: np.ndarray, form: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Each question's answer as gensim picks it: the question words themselves excluded, the first
    of the top `ANALOGY_TOP` whose form is none of theirs, else the last of them (then wrong,
    since its form is a question word's); -1 when there is no candidate at all."""
    rows = np.arange(len(scores))
    for question_words in (a, b, c):
        scores[rows, question_words] = -np.inf
    top = min(ANALOGY_TOP, scores.shape[1])
    best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    best = np.take_along_axis(best, np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable"),
                              axis=1)
    present = np.isfinite(np.take_along_axis(scores, best, axis=1))
    forms = form[best]
    fits = present & (forms != a[:, None]) & (forms != b[:, None]) & (forms != c[:, None])
    last = np.maximum(present.sum(axis=1) - 1, 0)
    chosen = np.where(fits.any(axis=1), fits.argmax(axis=1), last)
    return np.where(present.any(axis=1), forms[rows, chosen], -1)


def _analogy_score(correct: int, used: int, total: int, protocol: Protocol) -> dict[str, Any]:
    """Accuracy over the questions asked (all of them with `oov="zero"`: the unknown ones wrong)."""
    asked = total if protocol.oov == "zero" and total else used
    return {"accuracy": _ratio(correct, asked), "correct": correct, **_coverage("questions", used, total)}


def _coverage(items: str, used: int, total: int) -> dict[str, Any]:
    """How many items had every word known, of how many; `oov_ratio` is gensim's (a percentage)."""
    return {f"{items}_used": used, f"{items}_oov": total - used, f"{items}_total": total,
            "oov_ratio": 100.0 * (total - used) / total if total else float("nan")}


def _restricted(vectors: WordVectors, protocol: Protocol) -> int:
    return len(vectors) if protocol.restrict_vocab is None else min(protocol.restrict_vocab, len(vectors))


def _key_index(words: Sequence[str], n: int, protocol: Protocol) -> dict[str, int]:
    """Matched form -> index among the first n words, the first (most frequent) spelling winning."""
    lookup: dict[str, int] = {}
    for i in range(n):
        lookup.setdefault(protocol.key(words[i]), i)
    return lookup


def _ratio(correct: int, total: int) -> float:
    return correct / total if total else float("nan")
