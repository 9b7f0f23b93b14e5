"""fastText's subwords: n-gram extraction, the FNV-1a hash with fastText's byte sign extension,
bucket rows, the vocabulary table, and embedding unseen words from saved n-gram rows."""

import numpy as np
import pytest

from d2l_lab.embeddings.subwords import SubwordScheme, SubwordVectors, char_ngrams, fnv1a_hashes
from d2l_lab.errors import UserError

from .conftest import needs_extra


def fasttext_hash(text: str) -> int:
    """fastText's `Dictionary::hash`, written out: h ^= uint32_t(int8_t(byte)); h *= 16777619."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        signed = byte - 256 if byte >= 128 else byte
        h = ((h ^ (signed & 0xFFFFFFFF)) * 16777619) % 2**32
    return h


def textbook_fnv1a(text: str) -> int:
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) % 2**32
    return h


def test_ngrams_of_where_as_fasttext_lists_them():
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    # fastText's order: by start position, then by length; `<ab>` itself is an n-gram too.
    assert char_ngrams("ab", 3, 6) == ["<ab", "<ab>", "ab>"]
    assert char_ngrams("aaaa", 3, 3) == ["<aa", "aaa", "aaa", "aa>"]  # repeats stay repeated


def test_ngrams_count_characters_not_bytes_and_skip_lone_boundaries():
    assert char_ngrams("été", 3, 3) == ["<ét", "été", "té>"]
    assert char_ngrams("ab", 1, 2) == ["<a", "a", "ab", "b", "b>"]  # never "<" or ">" alone


def test_hash_values_match_fasttext():
    # Values of fastText's hash (also gensim's `ft_hash_bytes`) for n-grams of "where".
    assert fasttext_hash("<wh") == 1048167652
    assert fasttext_hash("her>") == 3929739062
    assert fnv1a_hashes(["<wh", "her>"]).tolist() == [1048167652, 3929739062]


def test_hash_sign_extends_non_ascii_bytes_like_fasttext():
    words = ["été", "naïveté", "日本語", "<a", ""]
    assert fnv1a_hashes(words).tolist() == [fasttext_hash(w) for w in words]
    assert fasttext_hash("été") == 200187927 != textbook_fnv1a("été")
    assert fasttext_hash("<a") == textbook_fnv1a("<a")  # ASCII: the two agree
    assert fnv1a_hashes([]).dtype == np.uint32


def test_ngram_ids_are_vocab_size_plus_hash_modulo_buckets():
    scheme = SubwordScheme(vocab_size=7, buckets=1000, min_n=3, max_n=3)
    assert scheme.ngram_ids("where") == [7 + fasttext_hash(g) % 1000 for g in ["<wh", "whe", "her", "ere", "re>"]]


def test_vocabulary_table_lists_each_words_own_row_then_its_ngram_rows():
    words = ["where", "ab"]
    scheme = SubwordScheme(vocab_size=2, buckets=50, min_n=3, max_n=4)
    offsets, ids = scheme.table(words)
    assert offsets.tolist() == [0, 1 + 9, 1 + 9 + 1 + 3]  # own row, then 9 and 3 n-grams
    for i, word in enumerate(words):
        assert ids[offsets[i]:offsets[i + 1]].tolist() == [i, *scheme.ngram_ids(word)]
    with pytest.raises(ValueError):
        scheme.table(["one"])


def test_hashing_agrees_with_gensim_fasttext():
    fasttext = needs_extra("gensim.models.fasttext", "bench")
    scheme = SubwordScheme(0, 2_000_000, 3, 6)
    for word in ["where", "naïveté", "microprocessors", "x"]:
        assert sorted(scheme.ngram_ids(word)) == sorted(fasttext.ft_ngram_hashes(word, 3, 6, 2_000_000))


def stored_table(combine="mean"):
    """Rows for the buckets of "<wh", "whe" and "her" only: "ere" and "re>" were never trained."""
    scheme = SubwordScheme(0, 1000, 3, 3)
    buckets = np.array(sorted(set(scheme.ngram_ids("where")[:3])))
    rows = np.arange(buckets.size * 4, dtype=np.float32).reshape(-1, 4)
    return SubwordVectors(1000, 3, 3, combine, buckets, rows), scheme, buckets, rows


@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_unseen_word_is_the_mean_or_sum_of_its_ngram_rows_untrained_ones_zero(combine):
    table, scheme, buckets, rows = stored_table(combine)
    trained = [rows[np.searchsorted(buckets, b)] for b in scheme.ngram_ids("where")[:3]]
    expected = np.sum(trained, axis=0) / (5 if combine == "mean" else 1)
    np.testing.assert_allclose(table("where"), expected)


def test_word_without_trained_ngrams_is_a_user_error():
    table, *_ = stored_table()
    with pytest.raises(UserError, match="none of its character 3-3-grams"):
        table("zzz")


def test_save_load_round_trip_and_bad_file(tmp_path):
    table, *_ = stored_table("sum")
    table.save(tmp_path / "subwords.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["subwords.npz"]  # no temporary left behind
    loaded = SubwordVectors.load(tmp_path / "subwords.npz")
    assert (loaded.scheme, loaded.combine) == (table.scheme, "sum")
    np.testing.assert_array_equal(loaded("where"), table("where"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read subword table"):
        SubwordVectors.load(tmp_path / "bad.npz")
