"""The word2vec vocabulary: counting, min_count, frequency order and encoding to flat ids."""

import numpy as np
import pytest

from d2l_lab.embeddings.vocab import Vocab

TOY = [["a", "b", "c", "a"], ["d", "b", "a"], [], ["e", "c", "b", "z"], ["e"]]


def test_counts_min_count_and_frequency_order():
    vocab = Vocab(TOY, min_count=2)
    # a:3 b:3 c:2 e:2 (d:1, z:1 dropped); ties keep first occurrence: a before b, c before e.
    assert vocab.words == ["a", "b", "c", "e"]
    assert vocab.counts.dtype == np.int64
    assert vocab.counts.tolist() == [3, 3, 2, 2]
    assert vocab.index == {"a": 0, "b": 1, "c": 2, "e": 3}
    assert len(vocab) == 4 and "a" in vocab and "d" not in vocab and "<unk>" not in vocab
    assert vocab.total_tokens == 12


def test_min_count_one_keeps_everything_and_bad_min_count_is_refused():
    assert len(Vocab(TOY, min_count=1)) == 6
    with pytest.raises(ValueError):
        Vocab(TOY, min_count=0)


def test_encode_drops_rare_tokens_and_marks_sentence_starts():
    vocab = Vocab(TOY, min_count=2)
    ids, offsets = vocab.encode(TOY)
    assert ids.dtype == np.int64 and offsets.dtype == np.int64
    assert ids.tolist() == [0, 1, 2, 0, 1, 0, 3, 2, 1, 3]
    assert offsets.tolist() == [0, 4, 6, 6, 9, 10]


def test_encode_of_other_sentences_matches_the_corpus_path():
    vocab = Vocab(TOY, min_count=2)
    copy = [list(sentence) for sentence in TOY]
    assert all(np.array_equal(x, y) for x, y in zip(vocab.encode(copy), vocab.encode(TOY)))
    ids, offsets = vocab.encode([["zz", "e"], ["q"]])
    assert ids.tolist() == [3] and offsets.tolist() == [0, 1, 1]


def test_empty_input():
    vocab = Vocab([[]], min_count=1)
    assert len(vocab) == 0
    ids, offsets = vocab.encode([])
    assert ids.size == 0 and offsets.tolist() == [0]


@pytest.mark.slow
def test_ptb_vocabulary_matches_gensim_and_the_c_tool():
    from d2l_lab.datasets.corpus import read_ptb

    sentences = read_ptb()
    vocab = Vocab(sentences, min_count=5)
    assert len(vocab) == 9858  # gensim's Word2Vec(min_count=5) on PTB train
    assert vocab.words[:3] == ["the", "<unk>", "N"]
    ids, offsets = vocab.encode(sentences)
    assert ids.size == vocab.counts.sum() == 887100
    assert offsets.size == len(sentences) + 1
