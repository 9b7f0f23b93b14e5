"""Vector files: exact round trips, the three formats agreeing, detection, limits, memory, errors."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.embeddings import vector_binary, vector_formats, vector_rows
from d2l_lab.embeddings.vector_formats import load_vectors, save_word2vec_text
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError

from .conftest import needs_extra

V, DIM = 2000, 50


@pytest.fixture(scope="module")
def generated() -> WordVectors:
    rng = np.random.default_rng(2024)
    words = [f"w{i:04d}" for i in range(V - 3)] + ["café", "日本語", "non\xa0breaking"]
    matrix = rng.standard_normal((V, DIM)).astype(np.float32)
    matrix[0, :4] = [-0.0, 1e-40, 3e18, -1.5e-7]  # signed zero, subnormal, huge, tiny
    return WordVectors(words, matrix)


def glove_text(wv: WordVectors) -> str:
    return "".join(f"{w} {' '.join('%.9g' % v for v in row)}\n" for w, row in zip(wv.words, wv.matrix))


def write_glove(wv: WordVectors, path: Path) -> Path:
    path.write_text(glove_text(wv), encoding="utf-8")
    return path


def w2v_binary(wv: WordVectors, newline: bool = False) -> bytes:
    """gensim writes `word vector` back to back; the original C tool adds a newline after each."""
    records = (w.encode() + b" " + row.astype("<f4").tobytes() + (b"\n" if newline else b"")
               for w, row in zip(wv.words, wv.matrix))
    return f"{len(wv)} {wv.dim}\n".encode() + b"".join(records)


def write_binary(wv: WordVectors, path: Path, newline: bool = False) -> Path:
    path.write_bytes(w2v_binary(wv, newline))
    return path


def write_all(tmp_path: Path, wv: WordVectors) -> dict[str, Path]:
    text = tmp_path / "vectors.txt"
    save_word2vec_text(wv, text)
    return {"word2vec": text, "word2vec-binary": write_binary(wv, tmp_path / "vectors.bin"),
            "glove": write_glove(wv, tmp_path / "glove.txt")}


@pytest.fixture(scope="module")
def files(tmp_path_factory, generated) -> dict[str, Path]:
    """The generated vectors in each format, written once and only read by the tests."""
    return write_all(tmp_path_factory.mktemp("formats"), generated)


def assert_same(loaded: WordVectors, expected: WordVectors) -> None:
    assert loaded.words == expected.words
    assert loaded.matrix.dtype == np.float32
    np.testing.assert_array_equal(loaded.matrix, expected.matrix)


def test_text_round_trip_is_exact_and_leaves_no_temp_files(tmp_path, generated):
    path = tmp_path / "out.txt"
    save_word2vec_text(generated, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{V} {DIM}" and lines[1].split()[0] == "w0000" and len(lines[1].split()) == DIM + 1
    loaded = load_vectors(path)
    assert_same(loaded, generated)  # %.9g round-trips every float32, so "exact" means bit-exact
    assert np.signbit(loaded.matrix[0, 0])
    assert list(tmp_path.iterdir()) == [path]


def test_save_replaces_the_file_and_a_refused_save_keeps_the_old_one(tmp_path, generated):
    path = tmp_path / "out.txt"
    path.write_text("old")
    save_word2vec_text(WordVectors(["a"], np.ones((1, 2))), path)
    assert path.read_text() == "1 2\na 1 1\n"
    with pytest.raises(UserError, match="word 'a b' is empty or contains whitespace"):
        save_word2vec_text(WordVectors(["a b"], np.ones((1, 2))), path)
    with pytest.raises(UserError, match="does not exist; create it"):
        save_word2vec_text(generated, tmp_path / "missing" / "out.txt")
    assert path.read_text() == "1 2\na 1 1\n" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("newline", [False, True], ids=["gensim", "c-tool"])
def test_binary_round_trip_is_bit_exact(tmp_path, generated, newline):
    loaded = load_vectors(write_binary(generated, tmp_path / "v.bin", newline))
    assert_same(loaded, generated)
    assert loaded.matrix.tobytes() == generated.matrix.tobytes()


def test_glove_and_binary_files_give_identical_queries(files):
    glove, binary = load_vectors(files["glove"]), load_vectors(files["word2vec-binary"])
    for word in ["w0001", "w0500", "w1996", "café"]:
        assert glove.most_similar(word, k=10) == binary.most_similar(word, k=10)
    assert glove.analogy("w0001", "w0002", "w0003", k=5) == binary.analogy("w0001", "w0002", "w0003", k=5)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_auto_detection_matches_the_explicit_format(files, generated, fmt):
    path = files[fmt]
    assert_same(load_vectors(path), generated)
    assert_same(load_vectors(path, fmt=fmt), generated)


FAST_GZIP = functools.partial(gzip.compress, compresslevel=1)


@pytest.mark.parametrize(("fmt", "compress"), [
    ("word2vec", FAST_GZIP), ("word2vec-binary", FAST_GZIP), ("glove", FAST_GZIP),
    ("word2vec-binary", functools.partial(bz2.compress, compresslevel=1)),
    ("glove", functools.partial(lzma.compress, preset=0))], ids=["gz", "gz", "gz", "bz2", "xz"])
def test_compressed_input(tmp_path, files, generated, fmt, compress):
    packed = tmp_path / f"{files[fmt].name}.packed"  # detected by magic bytes, not by the suffix
    packed.write_bytes(compress(files[fmt].read_bytes()))
    assert_same(load_vectors(packed, limit=100), WordVectors(generated.words[:100], generated.matrix[:100]))


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_limit_keeps_the_first_words(files, generated, fmt):
    path = files[fmt]
    loaded = load_vectors(path, limit=37)
    assert_same(loaded, WordVectors(generated.words[:37], generated.matrix[:37]))
    assert_same(load_vectors(path, limit=10 * V), generated)


def test_text_tolerates_crlf_trailing_spaces_blank_lines_and_repeats(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"3 2\r\nthe 1 2 \r\n\r\nof 3 4 \r\nthe 5 6\r\n\r\n")
    loaded = load_vectors(path)
    assert loaded.words == ["the", "of"]  # a repeated word keeps its first vector, as in gensim
    np.testing.assert_array_equal(loaded.matrix, [[1, 2], [3, 4]])


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_loading_peaks_near_twice_the_matrix_size(tmp_path, monkeypatch, fmt):
    """Preallocated with a header; without one, growth chunks are joined once at the end."""
    wv = WordVectors([f"w{i}" for i in range(1000)], np.ones((1000, 600)))
    path = tmp_path / "v"
    {"word2vec": save_word2vec_text, "word2vec-binary": write_binary, "glove": write_glove}[fmt](wv, path)
    # Scale chunks and read buffers down to this small file, as they are to a 400k-word one.
    monkeypatch.setattr(vector_rows, "_CHUNK_VALUES", 1 << 15)
    monkeypatch.setattr(vector_binary, "_READ_BYTES", 1 << 14)
    monkeypatch.setattr(vector_formats, "_BLOCK_BYTES", 1 << 14)
    tracemalloc.start()
    try:
        load_vectors(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (2.3 if fmt == "glove" else 1.3) * wv.matrix.nbytes


def error_cases(tmp_path: Path, files: dict[str, Path]) -> dict[str, tuple[Path, str]]:
    """name -> (file, pattern its UserError must match)."""
    text = files["word2vec"].read_text(encoding="utf-8").splitlines(keepends=True)
    binary = files["word2vec-binary"].read_bytes()

    def file(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    short = text[2].rsplit(" ", 1)[0] + "\n"
    return {
        "missing": (tmp_path / "nope.txt", r"nope.txt does not exist; check the path"),
        "directory": (tmp_path, r"is a directory"),
        "empty": (file("empty.txt", ""), r"empty.txt is empty"),
        "blank": (file("blank.txt", "\n \n"), r"blank.txt is empty"),
        "short line": (file("short.txt", text[0] + text[1] + short),
                       r"short.txt, line 3: expected 50 values after the word \(the header says 50\), found 49"),
        "glove short line": (file("gshort.txt", text[1] + short),
                             r"gshort.txt, line 2: expected 50 values after the word \(line 1 has 50\), found 49"),
        "non-numeric": (file("nan.txt", "2 3\na 1 2 3\nb 1 abc 3\n"), r"nan.txt, line 3: 'abc' is not a number"),
        "header says more": (file("more.txt", "3 3\na 1 2 3\nb 1 2 3\n"),
                             r"header promises 3 vectors but the file has 2; fix the header"),
        "header says fewer": (file("fewer.txt", "1 3\na 1 2 3\nb 1 2 3\n"),
                              r"fewer.txt, line 3: the header promises 1 vectors but the file has more"),
        "zero header": (file("zero.txt", "0 300\n"), r"header '0 300' promises no vectors"),
        "binary truncated": (file("trunc.bin", binary[:-10]),
                             r"trunc.bin \(word2vec binary\), row 2,000: the file ends inside this row"),
        "binary extra": (file("extra.bin", binary + b"x 1234"), r"extra.bin \(word2vec binary\): .* has more data"),
        "not utf-8": (file("latin.txt", "ba\xf1o 1 2\n".encode("latin-1")), r"line 1: the word is not valid UTF-8"),
        "corrupt gzip": (file("bad.txt.gz", FAST_GZIP(files["glove"].read_bytes())[:500]),
                         r"cannot read .*bad.txt.gz .*complete and not corrupted"),
    }


CASES = ["missing", "directory", "empty", "blank", "short line", "glove short line", "non-numeric",
         "header says more", "header says fewer", "zero header", "binary truncated", "binary extra",
         "not utf-8", "corrupt gzip"]


@pytest.mark.parametrize("case", CASES)
def test_bad_files_raise_one_line_user_errors(tmp_path, files, case):
    path, pattern = error_cases(tmp_path, files)[case]
    with pytest.raises(UserError, match=pattern) as info:
        load_vectors(path)
    assert "\n" not in str(info.value)


def test_bad_arguments_raise_user_errors(files):
    paths = files
    with pytest.raises(UserError, match="unknown vector format 'fasttext'; use one of auto, word2vec"):
        load_vectors(paths["glove"], fmt="fasttext")
    with pytest.raises(UserError, match="limit must be a positive number of words, got 0"):
        load_vectors(paths["glove"], limit=0)
    with pytest.raises(UserError, match="line 1 is not a 'count dim' header; use fmt='glove'"):
        load_vectors(paths["glove"], fmt="word2vec")


@pytest.mark.slow
def test_agrees_with_gensim(tmp_path, generated):
    """Optional cross-check against the reference implementation (never needed by the package)."""
    gensim_models = needs_extra("gensim.models", "bench")
    kv = gensim_models.KeyedVectors(DIM)
    kv.add_vectors(generated.words, generated.matrix)
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "g.txt"), binary=False)
    assert_same(load_vectors(tmp_path / "g.bin"), generated)
    assert_same(load_vectors(tmp_path / "g.txt"), generated)
    save_word2vec_text(generated, tmp_path / "ours.txt")
    np.testing.assert_array_equal(gensim_models.KeyedVectors.load_word2vec_format(tmp_path / "ours.txt").vectors,
                                  generated.matrix)
    for word in ["w0001", "w1234"]:
        ours, theirs = generated.most_similar(word, k=10), kv.most_similar(word, topn=10)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
        ours = generated.analogy("w0007", "w0008", word, k=5)
        theirs = kv.most_similar(positive=["w0008", word], negative=["w0007"], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
