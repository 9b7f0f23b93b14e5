"""Co-occurrence counting: hand-checked values, the symmetric 1/d rule, sparsity and the cache."""

from __future__ import annotations

import tracemalloc
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.embeddings import cooccurrence
from d2l_lab.embeddings.cooccurrence import (
    Cooccurrences,
    cooccurrence_cache_key,
    cooccurrence_entries,
    cooccurrences,
    count_cooccurrences,
    default_cache_dir,
    vocab_fingerprint,
)
from d2l_lab.embeddings.cooccurrence_file import EntriesFile, open_entries


def encode(sentences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """What `Vocab.encode` returns: flat ids and sentence starts plus the total length."""
    ids = np.array([w for s in sentences for w in s], dtype=np.int64)
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    return ids, offsets


def as_dict(cooc: Cooccurrences) -> dict[tuple[int, int], float]:
    return {(int(i), int(j)): float(x) for i, j, x in zip(cooc.rows, cooc.cols, cooc.values)}


def naive(sentences: list[list[int]], window: int) -> dict[tuple[int, int], float]:
    """The GloVe tool's loop: each word with every earlier word within the window, both ways."""
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for s in sentences:
        for right in range(len(s)):
            for left in range(max(0, right - window), right):
                counts[s[left], s[right]] += 1.0 / (right - left)
                counts[s[right], s[left]] += 1.0 / (right - left)
    return dict(counts)


def test_toy_corpus_by_hand():
    # Sentences "a b c a", "b d", "d d" with a=0, b=1, c=2, d=3, window 2.
    ids, offsets = encode([[0, 1, 2, 0], [1, 3], [3, 3]])
    cooc = count_cooccurrences(ids, offsets, vocab_size=4, window=2)
    expected = {
        (0, 1): 1.5, (1, 0): 1.5,  # a-b at distance 1 (1) and b..a at distance 2 (1/2)
        (0, 2): 1.5, (2, 0): 1.5,  # a..c at distance 2 (1/2) and c-a at distance 1 (1)
        (1, 2): 1.0, (2, 1): 1.0,  # b-c at distance 1
        (1, 3): 1.0, (3, 1): 1.0,  # b-d in the second sentence
        (3, 3): 2.0,               # d-d: counted in both directions, as the GloVe tool does
    }
    assert as_dict(cooc) == pytest.approx(expected)
    assert cooc.vocab_size == 4 and cooc.nnz == len(expected)
    assert cooc.rows.dtype == np.int64 and cooc.cols.dtype == np.int64


def test_pairs_never_cross_sentences():
    ids, offsets = encode([[0, 1, 2], [3, 4], [5]])
    cooc = count_cooccurrences(ids, offsets, vocab_size=6, window=5)
    group = {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2}
    assert all(group[int(i)] == group[int(j)] for i, j in zip(cooc.rows, cooc.cols))
    assert 5 not in cooc.rows  # a one-word sentence has no pairs


def test_symmetric_and_sorted():
    rng = np.random.default_rng(1)
    ids, offsets = encode([rng.integers(0, 30, size=n).tolist() for n in (40, 7, 0, 25)])
    cooc = count_cooccurrences(ids, offsets, vocab_size=30, window=4)
    pairs = as_dict(cooc)
    assert all(pairs[j, i] == x for (i, j), x in pairs.items())
    keys = cooc.rows * 30 + cooc.cols
    assert np.all(np.diff(keys) > 0)


@pytest.mark.parametrize("window", [1, 3, 10])
def test_matches_naive_loop(window):
    rng = np.random.default_rng(window)
    sentences = [rng.integers(0, 20, size=n).tolist() for n in rng.integers(0, 30, size=25)]
    ids, offsets = encode(sentences)
    got = as_dict(count_cooccurrences(ids, offsets, vocab_size=20, window=window))
    want = naive(sentences, window)
    assert got.keys() == want.keys()
    assert [got[k] for k in want] == pytest.approx(list(want.values()), rel=1e-12)


def test_small_blocks_merge_to_the_same_counts(monkeypatch):
    rng = np.random.default_rng(3)
    ids, offsets = encode([rng.integers(0, 50, size=60).tolist() for _ in range(5)])
    whole = count_cooccurrences(ids, offsets, 50, 6)
    monkeypatch.setattr(cooccurrence, "_BLOCK", 7)
    blocked = count_cooccurrences(ids, offsets, 50, 6)
    np.testing.assert_array_equal(blocked.rows, whole.rows)
    np.testing.assert_array_equal(blocked.cols, whole.cols)
    np.testing.assert_allclose(blocked.values, whole.values, rtol=1e-12)


@pytest.mark.slow
def test_large_vocabulary_stays_sparse():
    """V = 50,000: a dense V x V matrix would need 20 GB; memory must follow the pairs."""
    vocab_size, window = 50_000, 10
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=10_000)
    ids = rng.integers(0, vocab_size, size=int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tracemalloc.start()
    cooc = count_cooccurrences(ids, offsets, vocab_size, window)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 400 * cooc.nnz + 50_000_000  # linear in the pairs, nothing quadratic in V
    d = np.arange(1, window + 1)
    expected_total = 2 * sum(float(np.sum(np.maximum(n - d, 0) / d)) for n in lengths)
    assert cooc.values.sum() == pytest.approx(expected_total)


def test_rejects_inconsistent_input():
    ids, offsets = encode([[0, 1]])
    with pytest.raises(ValueError):
        count_cooccurrences(ids, offsets, vocab_size=2, window=0)
    with pytest.raises(ValueError):
        count_cooccurrences(ids, offsets, vocab_size=1, window=2)
    with pytest.raises(ValueError):
        count_cooccurrences(ids, np.array([0, 1]), vocab_size=2, window=2)


def test_cache_hit_skips_counting(tmp_path, monkeypatch):
    ids, offsets = encode([[0, 1, 2, 0, 3], [2, 2, 1]])
    first = cooccurrences(ids, offsets, 4, 3, cache_key="toy", cache_dir=tmp_path)
    assert (tmp_path / "cooccurrence" / "toy.entries").is_file()

    def no_counting(*args, **kwargs):
        raise AssertionError("counted again despite a cached result")

    expected = as_dict(count_cooccurrences(ids, offsets, 4, 3))
    monkeypatch.setattr(cooccurrence, "counted_blocks", no_counting)
    monkeypatch.setattr(cooccurrence, "count_cooccurrences", no_counting)
    second = cooccurrences(ids, offsets, 4, 3, cache_key="toy", cache_dir=tmp_path)
    for name in ("rows", "cols", "values"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
        assert getattr(second, name).dtype == getattr(first, name).dtype
    assert second.vocab_size == first.vocab_size
    assert as_dict(second) == expected


def test_entries_file_is_whole_and_checked(tmp_path):
    """The cached file is the counts' records after a 64-byte header; one cut short, grown, or
    with a flipped bit is counted again and replaced, never read."""
    ids, offsets = encode([[0, 1, 2, 0, 3], [2, 2, 1, 3, 0]])
    entries = cooccurrence_entries(ids, offsets, 4, 3, cache_key="k", cache_dir=tmp_path)
    expected = count_cooccurrences(ids, offsets, 4, 3)
    path = tmp_path / "cooccurrence" / "k.entries"
    assert isinstance(entries, EntriesFile) and entries.nnz == expected.nnz
    assert path.stat().st_size == 64 + 16 * expected.nnz
    np.testing.assert_array_equal(entries.read(0, entries.nnz), expected.read(0, expected.nnz))
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[-3] ^= 1
    for bad in (good[:-16], good[:-5], good + bytes(16), bytes(flipped), good[:40]):
        path.write_bytes(bad)
        assert open_entries(path, 4, 3) is None
        again = cooccurrence_entries(ids, offsets, 4, 3, cache_key="k", cache_dir=tmp_path)
        assert path.read_bytes() == good and again.nnz == expected.nnz
    assert open_entries(path, 5, 3) is None and open_entries(path, 4, 2) is None  # made for another vocab, window
    path.write_bytes(good[:-16])
    with pytest.raises(ValueError, match="fewer than"):  # cut short after it was checked
        entries.read(0, entries.nnz)


def test_cache_recounts_unusable_files(tmp_path):
    ids, offsets = encode([[0, 1, 2, 0, 3]])
    path = tmp_path / "cooccurrence" / "k.entries"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an entries file")
    assert as_dict(cooccurrences(ids, offsets, 4, 2, "k", tmp_path)) == as_dict(count_cooccurrences(ids, offsets, 4, 2))
    # Same key reused for another window (a caller's mistake): recounted, not served stale.
    assert as_dict(cooccurrences(ids, offsets, 4, 1, "k", tmp_path)) == as_dict(count_cooccurrences(ids, offsets, 4, 1))


def test_an_unwritable_cache_counts_in_memory(tmp_path):
    ids, offsets = encode([[0, 1, 2, 0, 3]])
    (tmp_path / "cooccurrence").write_text("a file where the cache's folder belongs")
    entries = cooccurrence_entries(ids, offsets, 4, 2, cache_key="k", cache_dir=tmp_path)
    assert isinstance(entries, Cooccurrences)
    assert as_dict(entries) == as_dict(count_cooccurrences(ids, offsets, 4, 2))


def test_no_cache_key_writes_nothing(tmp_path):
    ids, offsets = encode([[0, 1]])
    cooccurrences(ids, offsets, 2, 2, cache_key=None, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_cache_key_depends_on_every_input():
    words, counts = ["the", "cat"], np.array([5, 3])
    base = cooccurrence_cache_key("sha1:abc", words, counts, 10)
    assert base == cooccurrence_cache_key("sha1:abc", list(words), counts.astype(np.int32), 10)
    variants = [
        cooccurrence_cache_key("sha1:abd", words, counts, 10),
        cooccurrence_cache_key("sha1:abc", ["the", "dog"], counts, 10),
        cooccurrence_cache_key("sha1:abc", words, np.array([5, 4]), 10),
        cooccurrence_cache_key("sha1:abc", words, counts, 5),
    ]
    assert len({base, *variants}) == 5
    assert vocab_fingerprint(["ab", "c"], counts) != vocab_fingerprint(["a", "bc"], counts)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("D2L_LAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "d2l-lab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "d2l-lab"


@pytest.mark.parametrize("chunk", [1, 5, 13])
def test_counting_a_chunk_at_a_time_gives_the_same_counts(monkeypatch, chunk):
    """Windows reach across chunk edges, inside sentences longer than a chunk too, and the ids may
    be an int32 memory map as the corpus cache keeps them."""
    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 20, size=n).tolist() for n in (0, 3, 40, 1, 0, 17, 2, 29)]
    ids, offsets = encode(sentences)
    monkeypatch.setattr(cooccurrence, "_CHUNK", chunk)
    chunked = count_cooccurrences(ids.astype(np.int32), offsets, vocab_size=20, window=4)
    assert as_dict(chunked) == pytest.approx(naive(sentences, 4), rel=1e-12)


def test_merging_sooner_changes_no_sum_bit_for_bit(monkeypatch):
    """Each total is its old value plus its new weights one at a time, however often pending pairs
    are merged: PTB's counts stay those of one merge per 4M pairs."""
    rng = np.random.default_rng(1)
    ids, offsets = encode([rng.integers(0, 30, size=n).tolist() for n in (50, 7, 120, 33)])
    once = count_cooccurrences(ids, offsets, vocab_size=30, window=7)
    monkeypatch.setattr(cooccurrence, "_MERGE_AT_LEAST", 1)
    monkeypatch.setattr(cooccurrence, "_BLOCK", 16)
    often = count_cooccurrences(ids, offsets, vocab_size=30, window=7)
    assert np.array_equal(once.rows, often.rows) and np.array_equal(once.values, often.values)


def random_corpus(tokens: int, vocab_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 30, size=tokens // 15)
    ids = rng.integers(0, vocab_size, size=int(lengths.sum()))
    return ids, np.concatenate([[0], np.cumsum(lengths)])


def small_spill(monkeypatch) -> None:
    """Shards of a few thousand pairs, so that a small corpus spills many times."""
    monkeypatch.setattr(cooccurrence, "_SPILL_AT", 3000)
    monkeypatch.setattr(cooccurrence, "_MERGE_AT_LEAST", 1000)
    monkeypatch.setattr(cooccurrence, "_MERGE_BLOCK", 20_000)
    monkeypatch.setattr(cooccurrence, "_BLOCK", 500)
    monkeypatch.setattr(cooccurrence, "_CHUNK", 4000)


def test_spilled_shards_merge_to_the_same_pairs(monkeypatch, tmp_path):
    """Counting through shards on disk gives the pairs of counting in memory, with totals equal
    up to the order of additions, the same bits every time, and leaves no shard behind."""
    ids, offsets = random_corpus(20_000, 500, seed=3)
    whole = count_cooccurrences(ids, offsets, 500, 5)
    small_spill(monkeypatch)
    written = []
    write_shard = cooccurrence._write_shard
    monkeypatch.setattr(cooccurrence, "_write_shard", lambda *a: written.append(a[1]) or write_shard(*a))
    spilled = count_cooccurrences(ids, offsets, 500, 5, spill_dir=tmp_path)
    again = count_cooccurrences(ids, offsets, 500, 5, spill_dir=tmp_path)
    assert len(written) >= 2 * 10  # both counts spilled at least ten times
    np.testing.assert_array_equal(spilled.rows, whole.rows)
    np.testing.assert_array_equal(spilled.cols, whole.cols)
    np.testing.assert_allclose(spilled.values, whole.values, rtol=1e-12)
    assert np.array_equal(spilled.values, again.values)
    assert list(tmp_path.iterdir()) == []


def test_spilled_counts_match_the_naive_loop(monkeypatch, tmp_path):
    rng = np.random.default_rng(4)
    sentences = [rng.integers(0, 60, size=n).tolist() for n in rng.integers(0, 40, size=200)]
    ids, offsets = encode(sentences)
    small_spill(monkeypatch)
    monkeypatch.setattr(cooccurrence, "_SPILL_AT", 300)
    assert as_dict(count_cooccurrences(ids, offsets, 60, 6, spill_dir=tmp_path)) == pytest.approx(
        naive(sentences, 6), rel=1e-12)


def counting_peak(tokens: int, cache: Path) -> int:
    """Peak bytes allocated while counting a corpus into its entries file."""
    ids, offsets = random_corpus(tokens, 20_000, seed=5)
    tracemalloc.start()
    entries = cooccurrence_entries(ids, offsets, 20_000, 5, cache_key=f"{tokens}", cache_dir=cache)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(entries, EntriesFile)
    return peak


@pytest.mark.slow
def test_counting_memory_does_not_grow_with_the_corpus(monkeypatch, tmp_path):
    """Counted into a file, the counts take memory for a shard's pairs, however many there are."""
    small_spill(monkeypatch)
    monkeypatch.setattr(cooccurrence, "_SPILL_AT", 20_000)
    monkeypatch.setattr(cooccurrence, "_MERGE_AT_MOST", 10_000)
    small, large = counting_peak(20_000, tmp_path / "a"), counting_peak(80_000, tmp_path / "b")
    assert large < 1.3 * small
    monkeypatch.setattr(cooccurrence, "_SPILL_AT", 1 << 40)  # in memory: the same measure must grow
    assert counting_peak(80_000, tmp_path / "c") > 2 * large
