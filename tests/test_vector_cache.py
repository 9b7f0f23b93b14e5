"""The binary copy of a large vectors file (issue 24, item 8): written on the first load, read on
the next, rebuilt when the file changes or the copy is damaged, and never a different answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.embeddings import vector_cache, vector_formats
from d2l_lab.embeddings.vector_cache import load_vectors_cached
from d2l_lab.embeddings.vector_formats import load_vectors, save_word2vec_text
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError

from .conftest import d2l
from .test_trust_vectors import BAD_FILES, NFC, NFD, REPEATS
from .test_vector_formats import write_binary, write_glove


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache of its own, and every file worth a copy however small."""
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(vector_cache, "CACHED_FROM_BYTES", 0)
    return tmp_path / "cache" / "vectors"


@pytest.fixture
def vectors() -> WordVectors:
    rng = np.random.default_rng(0)
    return WordVectors([f"w{i}" for i in range(300)], rng.standard_normal((300, 20)).astype(np.float32))


def loaded(path: Path, **options) -> tuple[WordVectors, list[str]]:
    heard: list[str] = []
    return load_vectors_cached(path, warn=heard.append, **options), heard


def assert_same(got: WordVectors, expected: WordVectors) -> None:
    assert got.words == expected.words
    np.testing.assert_array_equal(got.matrix, expected.matrix)


def parsing_fails(monkeypatch) -> None:
    """From here on the text may not be parsed: only the cached copy can answer."""
    def refuse(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(vector_cache, "read_rows", refuse)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_the_first_load_writes_a_copy_that_the_next_one_reads(tmp_path, cache, vectors, monkeypatch, fmt):
    path = tmp_path / "v"
    {"word2vec": save_word2vec_text, "word2vec-binary": write_binary, "glove": write_glove}[fmt](vectors, path)
    first, heard = loaded(path)
    assert_same(first, vectors)
    assert heard == [] and len(list(cache.iterdir())) == 1
    parsing_fails(monkeypatch)
    second, heard = loaded(path)
    assert_same(second, vectors)
    assert heard == []
    assert second.most_similar("w3", k=5) == first.most_similar("w3", k=5)
    assert_same(loaded(path, limit=7)[0], WordVectors(vectors.words[:7], vectors.matrix[:7]))


def test_a_file_that_changes_is_parsed_again(tmp_path, cache, vectors, monkeypatch):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    loaded(path)
    changed = WordVectors(vectors.words, vectors.matrix * 2)  # other values, the same length of text or not
    save_word2vec_text(changed, path)
    assert_same(loaded(path)[0], changed)
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"w1 ", b"x1 ", 1))  # the same size and, set back, the same mtime
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert loaded(path)[0].words[1] == "x1"
    assert len(list(cache.iterdir())) == 1  # one entry per file, replaced
    parsing_fails(monkeypatch)
    assert loaded(path)[0].words[1] == "x1"


def damage(entry: Path, how: str) -> None:
    data = bytearray(entry.read_bytes())
    if how == "a flipped bit in a vector":
        data[-len(data) // 3] ^= 0x10
    elif how == "a flipped bit in the header":
        data[20] ^= 0x01
    elif how == "cut short":
        del data[-10:]
    elif how == "longer":
        data += b"\0" * 8
    elif how == "another version":
        data[7] ^= 0xFF
    elif how == "a different magic":
        data[0] ^= 0xFF
    elif how == "empty":
        data.clear()
    elif how == "a header of another shape":  # (whose checksum matches: a writer's mistake)
        size = int.from_bytes(data[12:16], "little")
        data[16:16 + size] = b'{"count": [1, 2]}'.ljust(size)
        data[8:12] = zlib.crc32(data[12:]).to_bytes(4, "little")
    entry.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["a flipped bit in a vector", "a flipped bit in the header", "cut short", "longer",
                                 "a different magic", "empty", "a header of another shape"])
def test_a_damaged_copy_is_read_again_from_the_file_and_replaced(tmp_path, cache, vectors, monkeypatch, how):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    loaded(path)
    (entry,) = cache.iterdir()
    damage(entry, how)
    again, heard = loaded(path)
    assert_same(again, vectors)
    assert len(heard) == 1 and heard[0].startswith(f"the cached copy of {path} was damaged ("), heard
    parsing_fails(monkeypatch)  # replaced by a sound copy
    assert_same(loaded(path)[0], vectors)


def test_an_entry_of_another_layout_version_is_replaced_without_a_word(tmp_path, cache, vectors, monkeypatch):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    loaded(path)
    (entry,) = cache.iterdir()
    damage(entry, "another version")
    again, heard = loaded(path)
    assert_same(again, vectors)
    assert heard == []
    parsing_fails(monkeypatch)
    assert_same(loaded(path)[0], vectors)


def test_the_command_says_so_in_one_warning_line(tmp_path, cache, vectors):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    assert d2l("embed", "similar", "--vectors", str(path), "w1").exit_code == 0
    (entry,) = cache.iterdir()
    damage(entry, "a flipped bit in a vector")
    result = d2l("embed", "similar", "--vectors", str(path), "w1", "--json")
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [f"warning: the cached copy of {path} was damaged (its checksum does not "
                                          "match): read the file again"]


@pytest.mark.parametrize("limit", [None, 1, 2, 3, 4, 5, 6])
def test_the_copy_warns_of_repeats_as_the_text_does(tmp_path, cache, monkeypatch, limit):
    """A limit reads only the file's start: the repeats after it go unheard, from the copy too."""
    path = tmp_path / "v.txt"
    path.write_text(REPEATS, encoding="utf-8")
    heard: list[str] = []
    expected = load_vectors(path, limit=limit, warn=heard.append)
    loaded(path)  # the copy (a limit writes none)
    parsing_fails(monkeypatch)
    got, got_heard = loaded(path, limit=limit)
    assert_same(got, expected) and got_heard == heard
    assert NFC in got.words and NFD not in got.words or limit == 1


def test_a_limited_first_load_writes_no_copy(tmp_path, cache, vectors):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    assert_same(loaded(path, limit=10)[0], WordVectors(vectors.words[:10], vectors.matrix[:10]))
    assert not cache.exists()


def test_small_files_get_no_copy(tmp_path, monkeypatch, vectors):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    assert_same(loaded(path)[0], vectors)
    assert not (tmp_path / "cache").exists()


def test_without_a_usable_cache_the_file_is_still_read(tmp_path, monkeypatch, vectors):
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "a file" / "cache"))
    monkeypatch.setattr(vector_cache, "CACHED_FROM_BYTES", 0)
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    got, heard = loaded(path)
    assert_same(got, vectors)
    assert len(heard) == 1 and re.match(r"cache directory .* cannot be made: .* is a file: .* is parsed again", heard[0])


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_as_without_the_cache_and_never_copied(tmp_path, cache, case):
    content, pattern = BAD_FILES[case]
    path = tmp_path / "v"
    path.write_bytes(content)
    with pytest.raises(UserError, match=pattern):
        load_vectors_cached(path)
    assert not cache.exists()


def test_embed_similar_imports_no_torch(tmp_path, vectors):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    code = ("import sys\nfrom d2l_lab.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    env = {**os.environ, "D2L_LAB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code, "embed", "similar", "--vectors", str(path), "w1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.startswith("w1: ") and done.stderr.strip() == "False", done.stderr


def test_text_is_read_in_blocks_as_it_is_line_by_line(tmp_path, monkeypatch):
    """The bulk parse of a block and the line-by-line reading give the same vectors and warnings,
    whatever the lines hold (CR, the C tool's trailing space, blank lines, repeats, the two
    Unicode forms, a damaged line the line-by-line reading must name)."""
    monkeypatch.setattr(vector_formats, "_BLOCK_BYTES", 64)
    rng = np.random.default_rng(1)
    lines = [f"{w} {' '.join('%.6g' % v for v in rng.standard_normal(3))}" for w in
             ["the", NFD, "of", "the", NFC, "and", "1e5", "café", "to"]]
    lines[2] += " \r"
    lines[5] += " "
    bodies = {"clean": lines, "blank lines": [*lines[:4], "", "  ", *lines[4:]],
              "damaged late": [*lines, "bad 1 2 x"], "short late": [*lines, "bad 1 2"]}
    for name, body in bodies.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(f"{sum(1 for line in body if line.strip())} 3\n" + "\n".join(body) + "\n", encoding="utf-8")
        results = []
        for fast in (True, False):
            if not fast:
                monkeypatch.setattr(vector_formats._TextReader, "_fast", lambda *args: False)
            heard: list[str] = []
            try:
                got = load_vectors(path, warn=heard.append)
                results.append((got.words, got.matrix.tolist(), heard))
            except UserError as exc:
                results.append(str(exc))
        monkeypatch.undo()
        monkeypatch.setattr(vector_formats, "_BLOCK_BYTES", 64)
        assert results[0] == results[1], name


def test_reading_text_reports_its_progress(tmp_path, vectors):
    path = tmp_path / "v.txt"
    save_word2vec_text(vectors, path)
    seen: list[tuple[int, int | None]] = []
    load_vectors(path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert seen and all(total == size for _, total in seen) and seen[-1][0] == size
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
