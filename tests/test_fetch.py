"""`d2l data fetch` against local file:// archives: download, verify, cache, fail cleanly."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest

from d2l_lab.datasets import fetch as fetch_module
from d2l_lab.datasets.fetch import RemoteVectors
from d2l_lab.embeddings.vector_formats import load_vectors

from .conftest import d2l


def glove_archive(path, words=50, dim=4):
    rng = np.random.default_rng(0)
    lines = [f"w{i} " + " ".join(f"{v:.5f}" for v in rng.normal(size=dim)) for i in range(words)]
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("glove.6B.50d/vec.txt", "\n".join(lines) + "\n")
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def local_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "glove.zip"
    sha1 = glove_archive(archive)
    remote = RemoteVectors(archive.as_uri(), sha1, "test vectors")
    monkeypatch.setitem(fetch_module.REMOTES, "glove.6b.50d", remote)
    return remote


def test_fetch_downloads_verifies_caches_and_the_file_loads(local_remote, tmp_path, monkeypatch):
    result = d2l("data", "fetch", "glove.6b.50d", "--quiet")
    assert result.exit_code == 0, result.stderr
    path = result.stdout.strip()
    assert path == str(tmp_path / "cache" / "vectors" / "glove.6b.50d" / "vec.txt")
    assert len(load_vectors(path)) == 50
    assert list((tmp_path / "cache" / "vectors" / "glove.6b.50d").iterdir()) == [tmp_path / path]

    def no_network(*args, **kwargs):
        raise AssertionError("a cached file must not be downloaded again")

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", no_network)
    assert d2l("data", "fetch", "glove.6b.50d").stdout.strip() == path
    assert d2l("embed", "similar", "--vectors", path, "w1", "-k", "2", "--json").exit_code == 0


def test_checksum_mismatch_is_exit_2_and_caches_nothing(local_remote, tmp_path, monkeypatch):
    monkeypatch.setitem(fetch_module.REMOTES, "glove.6b.50d", RemoteVectors(local_remote.url, "0" * 40, "bad"))
    result = d2l("data", "fetch", "glove.6b.50d")
    assert result.exit_code == 2 and "expected 0000" in result.stderr
    assert not (tmp_path / "cache" / "vectors" / "glove.6b.50d").exists()


def test_offline_is_one_line_naming_the_manual_alternative(local_remote, tmp_path, monkeypatch):
    missing = (tmp_path / "nowhere.zip").as_uri()
    monkeypatch.setitem(fetch_module.REMOTES, "glove.6b.50d", RemoteVectors(missing, local_remote.sha1, "gone"))
    result = d2l("data", "fetch", "glove.6b.50d")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "offline" in lines[0] and "--vectors FILE" in lines[0]


def test_unknown_name_and_list():
    result = d2l("data", "fetch", "glove.7b")
    assert result.exit_code == 2 and "choose vectors or a corpus (glove.6b.50d" in result.stderr
    listed = json.loads(d2l("data", "list", "--json").stdout)
    assert {"glove.6b.50d", "glove.6b.100d", "wiki.en", "text8", "men3k", "rw", "simverb3500", "mturk771",
            "bats3"} <= set(listed)
    shown = d2l("data", "list").stdout
    assert "evaluation sets (`d2l embed eval --set NAME`):\n  men3k" in shown
    assert "corpora (`d2l run word2vec --corpus PATH`):\n  text8" in shown and "  wiki.en" in shown.split("corpora")[0]


@pytest.mark.slow
def test_50k_word_glove_text_and_word2vec_binary_give_identical_queries(tmp_path):
    """The issue's acceptance: the same vectors in two formats answer queries identically."""
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(50_000)]
    matrix = rng.normal(size=(len(words), 20)).astype(np.float32)
    glove = tmp_path / "vectors.glove.txt"
    glove.write_text("".join(f"{w} " + " ".join(repr(float(v)) for v in row) + "\n" for w, row in zip(words, matrix)))
    binary = tmp_path / "vectors.bin"
    with open(binary, "wb") as f:
        f.write(f"{len(words)} 20\n".encode())
        for word, row in zip(words, matrix):
            f.write(word.encode() + b" " + row.astype("<f4").tobytes() + b"\n")
    from_text, from_binary = load_vectors(glove), load_vectors(binary)
    assert np.array_equal(from_text.matrix, from_binary.matrix)
    for query in ("w0", "w123", "w49999"):
        assert from_text.most_similar(query, k=5) == from_binary.most_similar(query, k=5)
    assert from_text.analogy("w1", "w2", "w3") == from_binary.analogy("w1", "w2", "w3")
