"""Issue 23's vector files: phrases in binary files, control characters and the two Unicode forms of
a word, rows checked one by one, repeated words in one warning, and the bad files nobody listed."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.embeddings import vector_formats
from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.vectors import WordVectors

from .conftest import d2l, needs_extra

NFC, NFD = "café", unicodedata.normalize("NFD", "café")


def binary(rows: list[tuple[str | bytes, list[float]]], newline: bool = False, count: int | None = None,
           dim: int | None = None) -> bytes:
    """word2vec binary as gensim writes it (`word vector` back to back), or the C tool (a newline after each)."""
    dim = dim if dim is not None else len(rows[0][1])
    body = b"".join((w.encode() if isinstance(w, str) else w) + b" " + np.array(v, "<f4").tobytes()
                    + b"\n" * newline for w, v in rows)
    return f"{len(rows) if count is None else count} {dim}\n".encode() + body


CITY = [("new", [1, 0, 0]), ("new york", [1, 1, 0]), ("york", [0, 1, 0]), ("city", [0, 0, 1])]


def similar(path: Path, *words: str) -> dict:
    result = d2l("embed", "similar", "--vectors", str(path), *words, "-k", "3", "--json")
    assert result.exit_code == 0 and result.stderr == "", result.output
    return {word: [[w, round(s, 4)] for w, s in hits] for word, hits in json.loads(result.stdout).items()}


# -- 1. a word holding a space ------------------------------------------------------------------------

@pytest.mark.parametrize("newline", [False, True], ids=["gensim", "c-tool"])
def test_a_binary_word_holding_a_space_is_read_whole_not_out_of_step(tmp_path, newline):
    """'new york' put the reader out of step: it answered, exit 0, with "words" of float bytes."""
    path = tmp_path / "v.bin"
    path.write_bytes(binary(CITY, newline))
    assert similar(path, "new", "new york") == {
        "new": [["new york", 0.7071], ["york", 0.0], ["city", 0.0]],
        "new york": [["new", 0.7071], ["york", 0.7071], ["city", 0.0]]}


def test_gensim_style_binary_with_phrase_keys_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(23)
    tokens = ["new", "york", "san", "francisco", "los", "angeles", "café", "日本", "a", "of"]
    words = list(dict.fromkeys(" ".join(rng.choice(tokens, rng.integers(1, 4))) + str(rng.integers(100))
                               for _ in range(600)))
    matrix = (rng.standard_normal((len(words), 50)) * 0.1).astype(np.float32)
    path = tmp_path / "phrases.bin"
    path.write_bytes(binary(list(zip(words, matrix))))
    loaded = load_vectors(path)
    assert loaded.words == words and loaded.matrix.tobytes() == matrix.tobytes()
    assert sum(" " in w for w in words) > 300


@pytest.mark.slow
def test_gensim_s_own_binary_output_with_a_phrase_key_round_trips(tmp_path):
    """gensim writes such a file but cannot read it back (UnicodeDecodeError, or words out of step)."""
    gensim_models = needs_extra("gensim.models", "bench")
    rng = np.random.default_rng(7)
    words = ["new", "new york", "york", "new york city", "san francisco", "city"]
    kv = gensim_models.KeyedVectors(25)
    kv.add_vectors(words, rng.standard_normal((6, 25)).astype(np.float32))
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    loaded = load_vectors(tmp_path / "g.bin")
    assert loaded.words == words and np.array_equal(loaded.matrix, kv.vectors)


def test_binary_files_without_phrases_read_as_gensim_reads_them_whatever_the_dimension(tmp_path):
    """With 1-3 values a row, float bytes after a word now and then spell a longer word the floats
    cannot rule out; the shorter words win then, so such files read as before."""
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz") + ["é", "日", "ß", "0", "1", "_", "-", "'"]
    for dim in (1, 2, 3):
        words = list(dict.fromkeys("".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(3000)))
        matrix = (rng.standard_normal((len(words), dim)) * 0.3).astype(np.float32)
        path = tmp_path / f"plain{dim}.bin"
        path.write_bytes(binary(list(zip(words, matrix))))
        loaded = load_vectors(path)
        assert loaded.words == words and loaded.matrix.tobytes() == matrix.tobytes()


# -- 2. and 4. every row checked: bad files are one line naming the row ----------------------------------------

def _late_control() -> bytes:
    rows = "".join(f"w{i} {i % 7} 1 2\n" for i in range(6000))  # past the 64 KiB that format detection reads
    return f"6001 3\n{rows}bad\x01word 1 2 3\n".encode()


ONE = np.float32(1).tobytes()
F = bytes([0x00, 0x3F, 0x3E, 0x3F])  # 0.743; 'b ' and its first two bytes are 0.500 (both plausible)

BAD_FILES = {
    # issue 23, items 2 and 4
    "nul in a binary word": (binary([(b"a\x00z", [1, 0]), ("b", [0, 1])]),
                             r"\(word2vec binary\), row 1: the word holds a control character, \\x00 \('a\\x00z'\)"),
    "tab in a binary word": (binary([("a", [1, 0]), (b"b\tc", [0, 1])]), r"row 2: the word holds a control character, \\t"),
    "nul in a text word": (b"2 3\na\x00z 1 2 3\nb 3 2 1\n", r"v, line 2: the word holds a control character, \\x00"),
    "control past 64 KiB": (_late_control(), r"line 6,002: the word holds a control character, \\x01 \('bad\\x01word'\)"),
    "two newlines after a row": (b"2 2\na " + ONE * 2 + b"\n\nc " + ONE * 2 + b"\n",
                                 r"row 2: the word holds a control character, \\n"),
    # the bad files nobody listed
    "header dimension too small": (binary([(f"w{i}", [0.1, 0.2, 0.3]) for i in range(5)], dim=2),
                                   r"row 2: the word is not valid UTF-8 .*the header's dimension \(2\) is wrong"),
    "header dimension too large": (binary([(f"w{i}", [0.1, 0.2, 0.3]) for i in range(5)], dim=4),
                                   r"row 2: .*the header's dimension \(4\) is wrong"),
    "ends between rows": (binary([(f"w{i}", [0.1, 0.2]) for i in range(3)], count=5),
                          r"row 4: the file ends before this row, but the header promises 5 vectors"),
    "a word without end": (b"2 3\n" + binary([("a", [0.1, 0.2, 0.3])])[4:] + b"x" * 10_000 + b" " + bytes(12),
                           r"row 2: no space ends the word within 4,096 bytes"),
    "a text word of 5,000 bytes": (b"2 2\n" + b"a" * 5000 + b" 1 0\nb 0 1\n", r"line 2: the word is 5,000 bytes long"),
    "gensim text with a phrase": (b"2 2\nnew york 1 0\ncity 0 1\n",
                                  r"line 2: expected 2 values .*found 3 \(a word holding a space cannot be stored"),
    "phrases the floats cannot tell": (binary([(b"x y", [1]), (b"a b", np.frombuffer(F, "<f4")), ("c", [1])]),
                                       r"row 2: the bytes from here can be read as more than one list of words"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_vectors_file_is_one_line_naming_its_row(tmp_path, case):
    content, pattern = BAD_FILES[case]
    path = tmp_path / "v"
    path.write_bytes(content)
    result = d2l("embed", "similar", "--vectors", str(path), "a", "--json")
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and re.search(pattern, line), line
    assert list(tmp_path.iterdir()) == [path]


def test_a_line_longer_than_any_row_is_not_read_whole(tmp_path, monkeypatch):
    """A file of one huge "line" (no line break) read as text was held in memory whole."""
    monkeypatch.setattr(vector_formats, "_MAX_LINE_BYTES", 1 << 12)
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 3\nword " + b"1" * 10_000)
    result = d2l("embed", "similar", "--vectors", str(path), "a")
    assert result.exit_code == 2 and "line 2: over 4,096 bytes without a line break" in result.stderr


# -- 3. the two Unicode forms of a word -----------------------------------------------------------------------

@pytest.mark.parametrize(("in_file", "query"), [(NFC, NFD), (NFD, NFC), (NFD, NFD)], ids=["nfc-file", "nfd-file", "both"])
def test_either_unicode_spelling_finds_a_word(tmp_path, in_file, query):
    """macOS and some exports write 'é' as 'e' and a combining accent: the word was "not in the
    vocabulary" when typed the other way, or the query was answered with itself."""
    path = tmp_path / "v.txt"
    path.write_text(f"3 2\n{in_file} 1 0\ntea 1 1\ncake 0 1\n", encoding="utf-8")
    assert similar(path, query) == {query: [["tea", 0.7071], ["cake", 0.0]]}
    assert similar(path, "tea") == {"tea": [[NFC, 0.7071], ["cake", 0.7071]]}  # the file's words are read as NFC
    vectors = load_vectors(path)
    assert query in vectors and vectors.position(query) == 0 and vectors.similarity(query, "tea") == pytest.approx(0.7071, abs=1e-4)


def test_a_vocabulary_in_another_form_is_still_found_as_spelled():
    vectors = WordVectors([NFD, "tea"], np.eye(2))  # not read from a file: kept as given
    assert vectors.position(NFD) == 0 and vectors.position(NFC) is None


# -- 5. repeated words: one warning --------------------------------------------------------------------------

REPEATS = f"6 2\nthe 1 0\n{NFC} 0 1\nthe 0 -1\n{NFD} -1 0\nand 1 1\nof 1 -1\n"  # the repeats point away


@pytest.mark.parametrize("command", [["similar", "and"], ["analogy", "the", "and", "café"], ["eval"]])
def test_repeated_words_are_counted_in_one_warning_and_the_first_row_wins(tmp_path, command):
    """A repeated word kept its first row without a word; the two forms of 'café' were two words."""
    path = tmp_path / "v.txt"
    path.write_text(REPEATS, encoding="utf-8")
    result = d2l("embed", command[0], "--vectors", str(path), *command[1:], "--json")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    warning = (f"warning: {path}: 2 rows repeat a word read before (first 'the' at line 4; the two Unicode forms "
               "of a word count as one): each word keeps its first row, as gensim does")
    assert result.stderr.splitlines() == [warning]
    if command[0] == "similar":
        assert json.loads(result.stdout) == {"and": [["the", pytest.approx(0.7071, abs=1e-4)],
                                                     [NFC, pytest.approx(0.7071, abs=1e-4)], ["of", 0.0]]}


def test_binary_repeats_name_their_row_and_keep_the_first(tmp_path):
    path = tmp_path / "v.bin"
    path.write_bytes(binary([("a", [1, 0]), ("b", [0, 1]), ("a", [5, 5])]))
    heard: list[str] = []
    vectors = load_vectors(path, warn=heard.append)
    assert vectors.words == ["a", "b"] and vectors.matrix.tolist() == [[1, 0], [0, 1]]
    assert len(heard) == 1 and "(word2vec binary): 1 row repeats a word read before (first 'a' at row 3" in heard[0]
