"""Facebook fastText `.bin` models: the vectors gensim's `load_facebook_vectors` gives, for known
and unseen words, and one clear line for every file that is not a whole, unquantized model.

The fixture `data/tiny_fasttext.bin` and gensim's answers for it, `data/tiny_fasttext_gensim.json`,
come from `data/make_fasttext_bin.py`, so these tests need no gensim.
"""

from __future__ import annotations

import gzip
import json
import re
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.embeddings.fasttext_bin import load_fasttext_bin
from d2l_lab.embeddings.vector_cache import load_vectors_cached
from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.errors import UserError

from .conftest import d2l, needs_extra

DATA = Path(__file__).resolve().parent / "data"
MODEL = DATA / "tiny_fasttext.bin"
GENSIM = json.loads((DATA / "tiny_fasttext_gensim.json").read_text(encoding="utf-8"))
ARGS_AT, DICTIONARY_AT, WORDS_AT = 8, 64, 92  # after magic+version; after 12 int32 + a float64; its header


def _dictionary_end(data: bytes) -> int:
    """Where the input matrix's quantized flag sits: after each word, its NUL, count and type."""
    at = WORDS_AT
    for _ in GENSIM["words"]:
        at = data.index(b"\0", at) + 10
    return at


def _variant(tmp_path: Path, data: bytes, name: str = "model.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _patched(data: bytes, at: int, fmt: str, *values: object) -> bytes:
    return data[:at] + struct.pack(fmt, *values) + data[at + struct.calcsize(fmt):]


def test_vocabulary_and_vectors_are_gensims_for_known_and_unseen_words() -> None:
    """A known word is its row averaged with its n-gram rows, an unseen one its n-gram rows alone
    (accents and CJK hashed as fastText's signed bytes); gensim's answers to 1e-6."""
    vectors = load_vectors(MODEL)
    assert vectors.words == GENSIM["words"] and vectors.dim == GENSIM["dim"]
    for group in ("known", "unseen"):
        for word, expected in GENSIM[group].items():
            np.testing.assert_allclose(vectors.vector(word), expected, rtol=0, atol=1e-6, err_msg=word)
    rows = np.frombuffer(MODEL.read_bytes(), dtype="<f4", count=len(vectors) * vectors.dim,
                         offset=_dictionary_end(MODEL.read_bytes()) + 17).reshape(len(vectors), -1)
    assert np.abs(vectors.matrix - rows).max() > 1e-3  # the n-grams count: a word is not its row alone
    for word in ("cat", "catty"):
        got = vectors.most_similar(word, k=3)
        assert [w for w, _ in got] == [w for w, _ in GENSIM["similar"][word]]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in GENSIM["similar"][word]], atol=1e-6)


def test_a_limit_keeps_the_first_words_and_a_word_beyond_it_keeps_its_own_row() -> None:
    vectors = load_vectors_cached(MODEL, limit=5)
    assert vectors.words == GENSIM["words"][:5] and "mat" not in vectors
    np.testing.assert_allclose(vectors.vector("mat"), GENSIM["known"]["mat"], atol=1e-6)


def test_the_end_of_sentence_token_is_its_row_alone_as_fasttext_embeds_it(tmp_path) -> None:
    data = MODEL.read_bytes()
    assert data.count(b"mats\0") == 1
    path = _variant(tmp_path, data.replace(b"mats\0", b"</s>\0"))
    vectors = load_fasttext_bin(path)
    row = np.frombuffer(data, dtype="<f4", count=vectors.dim,
                        offset=_dictionary_end(data) + 17 + 4 * vectors.dim * GENSIM["words"].index("mats"))
    np.testing.assert_array_equal(vectors.vector("</s>"), row)


def test_the_cli_answers_unseen_query_words_from_their_ngrams() -> None:
    result = d2l("embed", "similar", "--vectors", str(MODEL), "catty", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["catty"]
    assert [w for w, _ in got] == [w for w, _ in GENSIM["similar"]["catty"]]
    result = d2l("embed", "analogy", "--vectors", str(MODEL), "cat", "cats", "doggo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answers"][0][0] not in ("cat", "cats")


def _refusals(data: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (file content, pattern of its one error line)."""
    end = _dictionary_end(data)
    output_at = end + 17 + 4 * (len(GENSIM["words"]) + GENSIM["bucket"]) * GENSIM["dim"]
    nwords_at = DICTIONARY_AT + 4
    return {
        "wrong magic": (_patched(data, 0, "<i", 793712315), r"is not a fastText binary model .*magic"),
        "version 13": (_patched(data, 4, "<i", 13), r"format version 13 is not supported"),
        "cut in the header": (data[:40], r"truncated fastText model \(the file is 40 bytes"),
        "cut in the dictionary": (data[:end - 30], r"truncated fastText model"),
        "cut in the input matrix": (data[:end + 500], r"truncated fastText model"),
        "cut in the output matrix": (data[:-3], r"truncated fastText model"),
        "trailing bytes": (data + b"\0" * 8, r"matrices end at byte [\d,]+; the model is damaged"),
        "huge word count": (_patched(_patched(data, DICTIONARY_AT, "<i", 2**31 - 1), nwords_at, "<i", 2**31 - 1),
                            r"truncated fastText model .* promises at least [\d,]{14}"),
        "huge bucket count": (_patched(data, ARGS_AT + 32, "<i", 2**31 - 1), r"input matrix is [\d,]+ x 8 but"),
        "huge matrix": (_patched(data, end + 1, "<qq", 2**40, 8), r"input matrix is 1,099,511,627,776 x 8"),
        "huge output": (_patched(data, output_at + 1, "<qq", 2**40, 8), r"truncated fastText model"),
        "dimension 0": (_patched(data, ARGS_AT, "<i", 0), r"header is damaged \(dimension 0 is not within"),
        "quantized input": (_patched(data, end, "<?", True), r"is a quantized fastText model \(\.ftz\)"),
        "pruned dictionary": (_patched(data, DICTIONARY_AT + 20, "<q", 7), r"is a quantized fastText model"),
        "supervised": (_patched(data, DICTIONARY_AT + 8, "<i", 2), r"supervised \(classification\) fastText model"),
        "a label entry": (data[:WORDS_AT + 12] + b"\1" + data[WORDS_AT + 13:], r"entry 1 is not a word \(entry type 1"),
    }


@pytest.mark.parametrize("case", sorted(_refusals(MODEL.read_bytes())))
def test_a_bad_model_is_one_line_before_anything_is_allocated(tmp_path, case) -> None:
    content, pattern = _refusals(MODEL.read_bytes())[case]
    path = _variant(tmp_path, content)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=pattern):
            load_fasttext_bin(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak  # whatever the header claims


def test_the_cli_refuses_a_truncated_model_in_one_line(tmp_path) -> None:
    path = _variant(tmp_path, MODEL.read_bytes()[:-3])
    result = d2l("embed", "similar", "--vectors", str(path), "cat")
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert re.match(r"error: .* is a truncated fastText model .*; re-download it$", line), line


def test_a_gzipped_model_is_refused_naming_the_fix(tmp_path) -> None:
    path = _variant(tmp_path, gzip.compress(MODEL.read_bytes()), "model.bin.gz")
    with pytest.raises(UserError, match=r"gzipped fastText model; decompress it first \(gunzip -k "):
        load_vectors(path)


@pytest.mark.slow  # importing gensim takes seconds
def test_our_vectors_are_gensims_on_the_committed_model() -> None:
    """With gensim installed, the fixture's answers are still what gensim computes."""
    fasttext = needs_extra("gensim.models.fasttext", "bench")
    theirs = fasttext.load_facebook_vectors(str(MODEL))
    ours = load_vectors(MODEL)
    assert ours.words == list(theirs.index_to_key)
    np.testing.assert_allclose(ours.matrix, theirs.vectors, atol=1e-6)
    for word in ("zebra", "ünïcode", "ab"):
        np.testing.assert_allclose(ours.vector(word), theirs[word], atol=1e-6)


def test_version_11_reads_as_12_and_undecodable_bytes_are_kept_as_escapes(tmp_path) -> None:
    """Both versions share the layout; a word that is not UTF-8 keeps its bad bytes as `\\x`
    escapes, as gensim keeps them, with one warning."""
    data = _patched(MODEL.read_bytes(), 4, "<i", 11)
    assert data.count("café\0".encode()) == 1
    warnings: list[str] = []
    path = _variant(tmp_path, data.replace("café\0".encode(), b"caf\xff\xfe\0"))
    vectors = load_fasttext_bin(path, warn=warnings.append)
    assert vectors.words == [w if w != "café" else "caf\\xff\\xfe" for w in GENSIM["words"]]
    np.testing.assert_allclose(vectors.vector("cat"), GENSIM["known"]["cat"], atol=1e-6)
    assert len(warnings) == 1 and "1 word(s) are not valid UTF-8" in warnings[0]
