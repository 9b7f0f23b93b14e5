"""The random parts of word2vec checked against their formulas, within sampling error."""

import numpy as np
import pytest

from d2l_lab.embeddings.sampling import (
    NoiseSampler, context_pairs, discard_probabilities, draw_window_sizes, subsample)

SIGMA = 5  # bounds at 5 binomial standard deviations: a correct sampler fails ~1 in 10^6


def zipf_corpus(vocab_size=200, tokens=200_000, sentence_length=20, seed=0):
    """Ids with Zipf-like frequencies in fixed-length sentences; returns (ids, offsets, counts)."""
    rng = np.random.default_rng(seed)
    probabilities = 1.0 / np.arange(1, vocab_size + 1)
    ids = rng.choice(vocab_size, size=tokens, p=probabilities / probabilities.sum())
    offsets = np.arange(0, tokens + 1, sentence_length)
    return ids, offsets, np.bincount(ids, minlength=vocab_size)


def test_discard_probability_is_the_books_formula():
    counts = np.array([9000, 900, 90, 10])
    f = counts / counts.sum()
    expected = np.maximum(1 - np.sqrt(1e-2 / f), 0)
    assert np.allclose(discard_probabilities(counts, t=1e-2), expected)
    assert discard_probabilities(counts, t=1e-2)[-1] == 0  # rarer than t: always kept


def test_subsample_keeps_each_frequent_word_at_its_rate():
    ids, offsets, counts = zipf_corpus()
    t = 1e-3
    kept, _ = subsample(ids, offsets, counts, t, np.random.default_rng(1))
    keep = 1 - discard_probabilities(counts, t)
    observed = np.bincount(kept, minlength=counts.size)
    frequent = keep < 1
    assert frequent.sum() > 20
    n, p = counts[frequent], keep[frequent]
    assert np.all(np.abs(observed[frequent] - n * p) <= SIGMA * np.sqrt(n * p * (1 - p)) + 1)
    assert np.array_equal(observed[~frequent], counts[~frequent])


def test_subsample_keeps_sentence_boundaries():
    ids, offsets, counts = zipf_corpus(tokens=20_000)
    kept, kept_offsets = subsample(ids, offsets, counts, 1e-3, np.random.default_rng(2))
    assert kept_offsets[0] == 0 and kept_offsets[-1] == kept.size
    assert np.all(np.diff(kept_offsets) <= np.diff(offsets))
    # Re-running with the same generator state keeps exactly these tokens, sentence by sentence.
    mask = np.random.default_rng(2).random(ids.size) >= discard_probabilities(counts, 1e-3)[ids]
    sentence = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    assert np.array_equal(np.diff(kept_offsets), np.bincount(sentence[mask], minlength=offsets.size - 1))
    assert subsample(ids, offsets, counts, 0, np.random.default_rng(0))[0] is ids


def test_window_sizes_are_uniform():
    window, n = 5, 100_000
    sizes = draw_window_sizes(n, window, np.random.default_rng(3))
    observed = np.bincount(sizes, minlength=window + 1)
    assert observed[0] == 0 and sizes.max() == window
    chi2 = ((observed[1:] - n / window) ** 2 / (n / window)).sum()
    assert chi2 < 30  # 4 degrees of freedom: P(chi2 > 30) ~ 5e-6


def test_pairs_per_centre_follow_the_uniform_window():
    """Away from sentence ends a centre with window size b has exactly 2b contexts."""
    window, length, sentences = 5, 50, 2000
    ids = np.arange(length * sentences)
    offsets = np.arange(0, ids.size + 1, length)
    _, _, positions = context_pairs(ids, offsets, window, np.random.default_rng(4))
    per_centre = np.bincount(positions, minlength=ids.size).reshape(sentences, length)
    interior = per_centre[:, window:length - window].ravel()
    assert np.all(interior % 2 == 0)
    observed = np.bincount(interior // 2, minlength=window + 1)[1:]
    expected = interior.size / window
    assert ((observed - expected) ** 2 / expected).sum() < 30


def test_pairs_are_exactly_the_windows_inside_each_sentence():
    """Brute force on a small corpus: ids are positions, so each pair names both positions."""
    window = 3
    lengths = [1, 7, 2, 0, 12, 4]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.arange(offsets[-1])
    centres, contexts, positions = context_pairs(ids, offsets, window, np.random.default_rng(5))
    sizes = draw_window_sizes(ids.size, window, np.random.default_rng(5))  # the first draw
    expected = set()
    for s, (start, end) in enumerate(zip(offsets[:-1], offsets[1:])):
        for centre in range(start, end):
            for other in range(max(start, centre - sizes[centre]), min(end, centre + sizes[centre] + 1)):
                if other != centre:
                    expected.add((centre, other))
    got = list(zip(centres.tolist(), contexts.tolist()))
    assert len(got) == len(set(got)) and set(got) == expected
    assert np.array_equal(centres, positions)
    sentence = np.searchsorted(offsets, ids, side="right") - 1
    assert np.all(sentence[centres] == sentence[contexts])  # never across a boundary


def test_pairs_by_centre_are_the_same_pairs_each_centres_contexts_nearest_first():
    """The two orders hold the same pairs from the same draws; by centre, positions ascend and a
    centre's contexts go -1, +1, -2, +2, ... (the order negative sampling's groups have)."""
    lengths = [1, 7, 2, 0, 12, 4]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.arange(offsets[-1])
    by_distance = context_pairs(ids, offsets, 3, np.random.default_rng(5))
    centres, contexts, positions = context_pairs(ids, offsets, 3, np.random.default_rng(5), by_centre=True)
    assert sorted(zip(*by_distance)) == sorted(zip(centres, contexts, positions))
    assert np.all(np.diff(positions) >= 0)
    for centre in np.unique(centres):
        offsets_seen = (contexts[centres == centre] - centre).tolist()
        assert offsets_seen == sorted(offsets_seen, key=lambda d: (abs(d), d))


def test_noise_frequencies_follow_count_to_the_three_quarters():
    counts = np.array([1000, 300, 100, 30, 10, 3, 1, 0])
    sampler = NoiseSampler(counts)
    p = counts ** 0.75 / (counts ** 0.75).sum()
    assert np.allclose(sampler.probabilities, p)
    n = 500_000
    draws = sampler.sample((n // 100, 100), np.random.default_rng(6))
    assert draws.shape == (n // 100, 100) and draws.dtype == np.int64
    observed = np.bincount(draws.ravel(), minlength=counts.size)
    assert observed[-1] == 0  # a zero count is never drawn
    assert np.all(np.abs(observed - n * p) <= SIGMA * np.sqrt(n * p * (1 - p)) + 1)


def test_noise_needs_a_positive_count():
    with pytest.raises(ValueError):
        NoiseSampler(np.zeros(3))


def test_same_seed_same_draws():
    ids, offsets, counts = zipf_corpus(tokens=10_000)

    def draw(seed):
        rng = np.random.default_rng(seed)
        kept, kept_offsets = subsample(ids, offsets, counts, 1e-3, rng)
        return (kept, kept_offsets, *context_pairs(kept, kept_offsets, 5, rng),
                NoiseSampler(counts).sample(1000, rng))

    first, again, other = draw(7), draw(7), draw(8)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not np.array_equal(first[0], other[0])
