"""Spearman against hand-computed values; similarity and analogy evaluation with known outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from d2l_lab.embeddings import evaluation
from d2l_lab.embeddings.evaluation import evaluate_analogies, evaluate_similarity, spearman
from d2l_lab.embeddings.protocol import Protocol
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError


def test_spearman_with_ties_matches_the_hand_computation():
    # Ranks: x -> [1, 2.5, 2.5, 4], y -> [1, 3, 2, 4]; centred dot 4.5, squared norms 4.5 and 5.
    assert spearman([1, 2, 2, 3], [10, 30, 20, 40]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    # Ties on both sides: ranks [1.5, 1.5, 3, 4] and [1, 2.5, 2.5, 4]; centred dot 3.75, norms 4.5.
    assert spearman([5, 5, 7, 9], [0.1, 0.4, 0.4, 0.9]) == pytest.approx(3.75 / 4.5)


def test_spearman_is_one_for_any_monotone_relation():
    x = np.arange(1, 11)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -(x ** 3)) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2], [1, 2, 3])


@pytest.fixture
def fan() -> WordVectors:
    """Unit vectors at 0, 10, 20, ... degrees: cosine falls as the angle between words grows."""
    angles = np.radians(np.arange(0, 90, 10))
    words = ["Anchor"] + [f"w{d}" for d in range(10, 90, 10)]
    return WordVectors(words, np.stack([np.cos(angles), np.sin(angles)], axis=1))


def test_similarity_rho_and_oov_counting(fan):
    # Human scores fall with the angle, as cosines do: perfect rank agreement.
    pairs = [("anchor", f"w{d}", 10.0 - d / 10) for d in range(10, 90, 10)]
    pairs += [("anchor", "missing", 5.0), ("nothere", "w10", 1.0)]
    result = evaluate_similarity(fan, pairs)
    assert result == {"rho": pytest.approx(1.0), "pairs_used": 8, "pairs_oov": 2, "pairs_total": 10,
                      "oov_ratio": 20.0}
    reversed_scores = [(a, b, -s) for a, b, s in pairs]
    assert evaluate_similarity(fan, reversed_scores)["rho"] == pytest.approx(-1.0)


def test_similarity_with_too_few_pairs_is_nan(fan):
    result = evaluate_similarity(fan, [("w10", "w20", 3.0), ("x", "y", 1.0)])
    assert math.isnan(result["rho"]) and (result["pairs_used"], result["pairs_oov"]) == (1, 1)


def analogy_world() -> WordVectors:
    """Countries and capitals (plus man/woman/king/queen) where b - a + c is exactly a word.

    Each word is one orthonormal "concept" plus one "role" direction, so e.g.
    paris - france + italy = rome holds exactly; rare words at the end test restrict_vocab.
    """
    concepts = ["france", "italy", "spain", "japan", "royal", "plain"]
    roles = {"country": 0, "capital": 1, "male": 2, "female": 3}
    dim = len(concepts) + len(roles)
    basis = np.eye(dim)

    def word(concept: str, role: str) -> np.ndarray:
        return basis[concepts.index(concept)] + basis[len(concepts) + roles[role]]

    entries = {
        "France": word("france", "country"), "paris": word("france", "capital"),
        "italy": word("italy", "country"), "rome": word("italy", "capital"),
        "spain": word("spain", "country"), "madrid": word("spain", "capital"),
        "man": word("plain", "male"), "woman": word("plain", "female"),
        "king": word("royal", "male"), "queen": word("royal", "female"),
        "japan": word("japan", "country"), "tokyo": word("japan", "capital"),  # the rare tail
    }
    return WordVectors(list(entries), np.stack(list(entries.values())))


QUESTIONS = [
    ("capitals", "france", "paris", "italy", "rome"),
    ("capitals", "italy", "rome", "spain", "madrid"),
    ("capitals", "spain", "madrid", "france", "paris"),
    ("capitals", "spain", "madrid", "italy", "paris"),  # wrong on purpose: rome is the answer
    ("capitals", "japan", "tokyo", "italy", "rome"),  # uses the rare tail
    ("capitals", "france", "paris", "atlantis", "x"),  # out of vocabulary
    ("family", "man", "king", "woman", "queen"),
    ("family", "man", "woman", "king", "queen"),
    ("family", "man", "king", "man", "king"),  # the answer is a question word: never accepted
    ("empty", "foo", "bar", "baz", "qux"),
]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_accuracy_counts_correct_and_oov(method):
    result = evaluate_analogies(analogy_world(), QUESTIONS, Protocol(restrict_vocab=None, method=method))
    assert (result["correct"], result["questions_used"], result["questions_oov"]) == (6, 8, 2)
    assert result["accuracy"] == pytest.approx(6 / 8)
    capitals, family, empty = (result["sections"][s] for s in ("capitals", "family", "empty"))
    assert capitals == {"correct": 4, "questions_used": 5, "questions_oov": 1, "questions_total": 6,
                        "oov_ratio": pytest.approx(100 / 6), "accuracy": pytest.approx(0.8)}
    assert family == {"correct": 2, "questions_used": 3, "questions_oov": 0, "questions_total": 3, "oov_ratio": 0.0,
                      "accuracy": pytest.approx(2 / 3)}
    assert (empty["questions_used"], empty["questions_oov"]) == (0, 1) and math.isnan(empty["accuracy"])


def test_restrict_vocab_turns_rare_words_into_oov():
    result = evaluate_analogies(analogy_world(), QUESTIONS, Protocol(restrict_vocab=10))
    assert (result["correct"], result["questions_used"], result["questions_oov"]) == (5, 7, 3)
    with pytest.raises(UserError, match="restrict_vocab must be a positive number"):
        Protocol(restrict_vocab=0)
    with pytest.raises(UserError, match="unknown analogy method"):
        evaluate_analogies(analogy_world(), QUESTIONS, Protocol(method="cosine"))


def test_restrict_vocab_also_restricts_the_candidates():
    a, b, c, other = np.eye(4)
    exact = b - a + c  # the true answer, but the rarest word
    wv = WordVectors(["a", "b", "c", "near", "exact"], np.stack([a, b, c, exact + 0.5 * other, exact]))
    question = [("s", "a", "b", "c", "near")]
    assert evaluate_analogies(wv, question, Protocol(restrict_vocab=None))["correct"] == 0
    assert evaluate_analogies(wv, question, Protocol(restrict_vocab=4))["correct"] == 1


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_batched_evaluation_agrees_with_single_queries(method):
    """The vectorised evaluator must pick what WordVectors.analogy picks, question by question."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    matrix = rng.standard_normal((300, 16))
    questions = []
    for _ in range(400):
        a, b, c, d = rng.choice(300, 4, replace=False)
        if rng.random() < 0.5:  # make roughly half of them answerable
            matrix[d] = matrix[b] - matrix[a] + matrix[c] + rng.normal(0, 0.5, 16)
        questions.append(("s", *(words[i] for i in (a, b, c, d))))
    wv = WordVectors(words, matrix)
    expected = sum(wv.analogy(a, b, c, method=method)[0][0] == d for _, a, b, c, d in questions)
    result = evaluate_analogies(wv, questions, Protocol(restrict_vocab=None, method=method))
    assert 50 < result["correct"] == expected


def test_questions_are_scored_in_several_batches(monkeypatch):
    """Batch boundaries must not change the outcome."""
    questions = QUESTIONS[:-1] * 3  # without the all-OOV section, whose NaN accuracy never compares equal
    whole = evaluate_analogies(analogy_world(), questions, Protocol(restrict_vocab=None))
    monkeypatch.setattr(evaluation, "_BATCH_SCORES", 2 * len(analogy_world()))  # two questions a batch
    assert evaluate_analogies(analogy_world(), questions, Protocol(restrict_vocab=None)) == whole
