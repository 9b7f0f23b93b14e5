"""WordVectors queries on hand-built vectors whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from d2l_lab.embeddings.vectors import COSMUL_EPS, WordVectors, normalize_rows
from d2l_lab.errors import UserError

SQRT_HALF = float(np.sqrt(0.5))


@pytest.fixture
def axes() -> WordVectors:
    """x, its colinear double, its opposite, a 45-degree neighbour, and two orthogonal words."""
    words = ["x", "y", "two_x", "minus_x", "x_plus_y", "z"]
    matrix = [[1, 0, 0], [0, 1, 0], [2, 0, 0], [-1, 0, 0], [1, 1, 0], [0, 0, 3]]
    return WordVectors(words, np.array(matrix))


def royalty(dim: int = 12) -> WordVectors:
    """man:king :: woman:queen holds exactly: king - man + woman = queen (all unit length)."""
    royal, plain, male, female = np.eye(dim)[:4]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((20, dim)) * 0.1 + np.eye(dim)[4:].sum(axis=0)  # far from all four
    words = ["man", "king", "woman", "queen"] + [f"filler{i}" for i in range(20)]
    matrix = np.vstack([plain + male, royal + male, plain + female, royal + female, noise]) / np.sqrt(2)
    return WordVectors(words, matrix)


def test_basic_properties(axes):
    assert len(axes) == 6 and axes.dim == 3
    assert axes.matrix.dtype == np.float32 and axes.index["z"] == 5
    assert "x" in axes and "w" not in axes
    np.testing.assert_array_equal(axes.vector("z"), [0, 0, 3])


def test_vector_returns_a_copy(axes):
    axes.vector("x")[:] = 99
    np.testing.assert_array_equal(axes.vector("x"), [1, 0, 0])


def test_unit_matrix_is_computed_once_and_keeps_zero_rows_finite():
    wv = WordVectors(["a", "zero"], np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert wv.unit is wv.unit
    np.testing.assert_allclose(wv.unit, [[0.6, 0.8], [0.0, 0.0]])


def test_similarity_is_cosine(axes):
    assert axes.similarity("x", "two_x") == pytest.approx(1.0)
    assert axes.similarity("x", "minus_x") == pytest.approx(-1.0)
    assert axes.similarity("x", "y") == pytest.approx(0.0)
    assert axes.similarity("x", "x_plus_y") == pytest.approx(SQRT_HALF)


def test_most_similar_orders_by_cosine_and_excludes_the_query(axes):
    result = axes.most_similar("x", k=10)
    # y and z tie at 0: vocabulary order breaks the tie, so results are reproducible.
    assert [w for w, _ in result] == ["two_x", "x_plus_y", "y", "z", "minus_x"]
    np.testing.assert_allclose([s for _, s in result], [1, SQRT_HALF, 0, 0, -1], atol=1e-6)
    assert [w for w, _ in axes.most_similar("x", k=2)] == ["two_x", "x_plus_y"]


def test_most_similar_exclude_and_vector_queries(axes):
    assert [w for w, _ in axes.most_similar("x", k=2, exclude=["two_x", "unknown"])] == ["x_plus_y", "y"]
    # A vector query is not a vocabulary word, so nothing is excluded implicitly.
    top = axes.most_similar(np.array([5.0, 0.0, 0.0]), k=2)
    assert [w for w, _ in top] == ["x", "two_x"] and top[0][1] == pytest.approx(1.0)
    assert axes.most_similar(np.array([0.0, 0.0, -1.0]), k=1)[0][0] == "x"  # all but z tie at 0


def test_analogy_3cosadd_lands_exactly_on_the_answer():
    wv = royalty()
    [(word, score)] = wv.analogy("man", "king", "woman")
    assert word == "queen" and score == pytest.approx(1.0, abs=1e-6)
    assert [w for w, _ in wv.analogy("woman", "queen", "man", k=3)][0] == "king"


def test_analogy_3cosmul_score_matches_levy_goldberg():
    wv = royalty()
    [(word, score)] = wv.analogy("man", "king", "woman", method="3cosmul")
    # cos(queen, king) = cos(queen, woman) = 1/2 and cos(queen, man) = 0, each shifted by (cos+1)/2.
    assert word == "queen" and score == pytest.approx(0.75 * 0.75 / (0.5 + COSMUL_EPS), rel=1e-5)


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_never_answers_a_question_word(method):
    wv = royalty()
    # With c == a, b - a + c is b itself: the best remaining word must be returned instead.
    answers = [w for w, _ in wv.analogy("man", "king", "man", k=5, method=method)]
    assert len(answers) == 5 and not {"man", "king"} & set(answers)
    scores = [s for _, s in wv.analogy("man", "king", "woman", k=5, method=method)]
    assert scores == sorted(scores, reverse=True)


def test_unknown_word_is_a_user_error_not_a_key_error(axes):
    for query in (lambda: axes.vector("foo"), lambda: axes.similarity("x", "foo"),
                  lambda: axes.most_similar("foo"), lambda: axes.analogy("x", "y", "foo")):
        with pytest.raises(UserError, match=r"word 'foo' is not in the vocabulary \(6 words\); check spelling"):
            query()
    with pytest.raises(UserError, match="did you mean 'x'"):
        axes.vector("X")


def test_oov_hook_supplies_vectors_for_unknown_words(axes):
    axes.oov_vector = lambda word: np.array([len(word), 0, 0])
    assert "xyz" not in axes
    np.testing.assert_array_equal(axes.vector("xyz"), [3, 0, 0])
    assert axes.most_similar("xyz", k=2)[0] == ("x", pytest.approx(1.0))
    assert axes.analogy("y", "xyz", "y")[0][0] == "x"
    axes.oov_vector = lambda word: np.zeros(4)
    with pytest.raises(UserError, match=r"shape \(4,\) but these word vectors have dimension 3"):
        axes.vector("xyz")


def test_bad_arguments_are_user_errors(axes):
    with pytest.raises(UserError, match="unknown analogy method '3cos'; use one of 3cosadd, 3cosmul"):
        axes.analogy("x", "y", "z", method="3cos")
    with pytest.raises(UserError, match="k must be a positive"):
        axes.most_similar("x", k=0)
    with pytest.raises(UserError, match=r"query vector has shape \(2,\)"):
        axes.most_similar(np.ones(2))


def test_inconsistent_construction_is_a_user_error():
    with pytest.raises(UserError, match=r"2 words but a vector matrix of shape \(3, 4\)"):
        WordVectors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(UserError, match="word 'a' appears more than once"):
        WordVectors(["a", "b", "a"], np.zeros((3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_matrix_is_normalised_in_blocks_to_the_same_bits(dtype):
    matrix = np.random.default_rng(0).standard_normal((1300, 7)).astype(dtype)
    matrix[700] = 0
    whole = matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), np.finfo(np.float32).tiny)
    unit = normalize_rows(matrix)
    assert unit.dtype == whole.dtype and np.array_equal(unit, whole) and not unit[700].any()


def test_a_neighbour_query_scores_the_cosines_of_the_unit_matrix_without_making_it():
    """`most_similar` divides by the rows' norms rather than normalising a copy of the matrix
    (480 MB for 400k x 300): the same cosines to float32 rounding, a zero row scoring 0."""
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((1500, 16)).astype(np.float32) * rng.uniform(0.1, 10, (1500, 1)).astype(np.float32)
    matrix[7] = 0
    words = [f"w{i}" for i in range(len(matrix))]
    vecs = WordVectors(words, matrix)
    found = dict(vecs.most_similar("w3", k=len(words)))
    assert vecs._unit is None
    expected = normalize_rows(matrix) @ normalize_rows(matrix[3])
    assert len(found) == len(words) - 1 and found["w7"] == 0.0
    assert max(abs(found[w] - float(expected[i])) for i, w in enumerate(words) if w != "w3") < 1e-6
