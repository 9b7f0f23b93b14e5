"""Known answers for the bundled data sets and the user-corpus error paths."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import statistics
from importlib import resources
from pathlib import Path

import pytest
import torch

from d2l_lab.datasets import bundled
from d2l_lab.datasets.airfoil import airfoil_checksum, load_airfoil
from d2l_lab.datasets.corpus import corpus_checksum, ptb_checksum, read_corpus, read_ptb
from d2l_lab.datasets.evalsets import load_google_analogies, load_simlex999, load_wordsim353
from d2l_lab.errors import UserError

# sha1 of the original files, from the shared data/SOURCES.md (ptb: ptb.train.txt inside ptb.zip).
KNOWN_SHA1 = {
    "airfoil": "76e5be1548fd8222e5074cf0faae75edff8cf93f",
    "ptb.train": "f9ffb014fa33bd5730e5029697ad245184f3a678",
    "google_analogies": "fa92df4bbe788f2d51827c762c63bd8e470edf31",
    "wordsim353": "5207d1bb6dd863994fa4032f48f149bf28a5468e",
    "simlex999": "c156b6497ee66bbc63c6610e603ec5d563ca931f",
}

DATA = resources.files("d2l_lab.datasets") / "data"


# --- bundled files ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KNOWN_SHA1))
def test_bundled_content_matches_known_sha1(name: str) -> None:
    entry = bundled.REGISTRY[name]
    content = lzma.decompress((DATA / entry.filename).read_bytes())
    assert hashlib.sha1(content).hexdigest() == KNOWN_SHA1[name] == entry.sha1
    assert bundled.checksum(name) == f"sha1:{KNOWN_SHA1[name]}"
    assert KNOWN_SHA1[name] in (DATA / "SOURCES.md").read_text(encoding="utf-8")


def test_registry_is_exactly_what_is_shipped() -> None:
    shipped = {p.name for p in DATA.iterdir() if p.name.endswith(".xz")}
    assert shipped == {e.filename for e in bundled.REGISTRY.values()}
    assert sum(len((DATA / f).read_bytes()) for f in shipped) < 2.5e6


def test_checksum_mismatch_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    good = bundled.REGISTRY["wordsim353"]
    broken = bundled.BundledFile(good.filename, "0" * 40, good.source)
    monkeypatch.setitem(bundled.REGISTRY, "wordsim353", broken)
    bundled.read_bytes.cache_clear()
    try:
        with pytest.raises(bundled.ChecksumError, match="wordsim353.tsv.xz"):
            bundled.read_bytes("wordsim353")
    finally:
        bundled.read_bytes.cache_clear()


# --- airfoil ---------------------------------------------------------------------------------

def test_airfoil_shapes_and_dtype() -> None:
    features, targets = load_airfoil()
    assert features.shape == (1500, 5) and targets.shape == (1500,)
    assert features.dtype == targets.dtype == torch.float32
    assert airfoil_checksum() == "sha1:76e5be1548fd8222e5074cf0faae75edff8cf93f"


def test_airfoil_standardised_over_all_rows() -> None:
    features, targets = load_airfoil(1503, dtype=torch.float64)
    data = torch.cat([features, targets[:, None]], dim=1)
    ones = torch.ones(6, dtype=torch.float64)
    assert torch.allclose(data.mean(dim=0), 0 * ones, atol=1e-12)
    assert torch.allclose(data.std(dim=0, unbiased=False), ones, atol=1e-12)


def test_airfoil_row0_matches_independent_computation() -> None:
    lines = bundled.read_text("airfoil").splitlines()
    rows = [[float(x) for x in line.split("\t")] for line in lines]
    assert len(rows) == 1503 and rows[0][0] == 800.0
    frequency = [row[0] for row in rows]
    expected = (800.0 - statistics.fmean(frequency)) / statistics.pstdev(frequency)
    assert expected == pytest.approx(-0.6620227033980999, rel=1e-12)
    features, _ = load_airfoil(10, dtype=torch.float64)
    assert features[0, 0].item() == pytest.approx(expected, rel=1e-12)
    sound = [row[5] for row in rows]
    _, targets = load_airfoil(1)
    expected_sound = (126.201 - statistics.fmean(sound)) / statistics.pstdev(sound)
    assert targets[0].item() == pytest.approx(expected_sound, rel=1e-6)  # float32


@pytest.mark.parametrize("n", [0, 1504, -1, 2.5, True])
def test_airfoil_rejects_bad_n(n: object) -> None:
    with pytest.raises(UserError, match="1 to 1503"):
        load_airfoil(n)  # type: ignore[arg-type]


# --- PTB -------------------------------------------------------------------------------------

def test_ptb_counts() -> None:
    sentences = read_ptb()
    assert len(sentences) == 42_068
    assert sum(len(s) for s in sentences) == 887_521
    assert sentences[0][:3] == ["aer", "banknote", "berlitz"]
    assert ptb_checksum() == "sha1:f9ffb014fa33bd5730e5029697ad245184f3a678"


@pytest.mark.slow
def test_ptb_returns_fresh_lists() -> None:
    read_ptb()[0].append("junk")
    assert read_ptb()[0][-1] != "junk"


def test_ptb_unknown_split() -> None:
    with pytest.raises(UserError, match="'valid'"):
        read_ptb("valid")


# --- evaluation sets -------------------------------------------------------------------------

def test_similarity_sets() -> None:
    wordsim, simlex = load_wordsim353(), load_simlex999()
    assert len(wordsim) == 353 and len(simlex) == 999
    assert wordsim[0] == ("love", "sex", 6.77)
    assert simlex[0] == ("old", "new", 1.58)
    assert ("Jerusalem", "Israel", 8.46) in wordsim  # the file's case: the protocol decides how it matches
    assert all(0.0 <= score <= 10.0 for _, _, score in wordsim + simlex)


def test_google_analogies() -> None:
    analogies = load_google_analogies()
    assert len(analogies) == 19_544
    assert len({section for section, *_ in analogies}) == 14
    assert analogies[0] == ("capital-common-countries", "Athens", "Greece", "Baghdad", "Iraq")
    assert analogies[-1] == ("gram9-plural-verbs", "write", "writes", "work", "works")


def test_evaluation_sets_are_immutable_and_cached() -> None:
    assert load_wordsim353() is load_wordsim353()
    assert isinstance(load_google_analogies(), tuple)


# --- user corpora ----------------------------------------------------------------------------

TEXT = "the cat sat\n\n  on the mat  \r\n"
SENTENCES = [["the", "cat", "sat"], ["on", "the", "mat"]]


@pytest.mark.parametrize(
    "suffix, compress", [(".txt", bytes), (".gz", gzip.compress), (".xz", lzma.compress)]
)
def test_corpus_round_trip(tmp_path: Path, suffix: str, compress) -> None:
    path = tmp_path / f"corpus{suffix}"
    raw = compress(TEXT.encode())
    path.write_bytes(raw)
    assert read_corpus(path) == SENTENCES
    reading = "" if suffix == ".txt" else f"+{suffix[1:]}"  # the same bytes read another way are other data
    assert corpus_checksum(path) == f"sha1:{hashlib.sha1(raw).hexdigest()}{reading}"


def _assert_user_error(path: Path, problem: str) -> None:
    with pytest.raises(UserError) as info:
        read_corpus(path)
    message = str(info.value)
    assert f"'{path}'" in message and problem in message and "\n" not in message


def test_corpus_missing(tmp_path: Path) -> None:
    _assert_user_error(tmp_path / "nope.txt", "does not exist")
    with pytest.raises(UserError, match="nope.txt"):
        corpus_checksum(tmp_path / "nope.txt")


def test_corpus_directory(tmp_path: Path) -> None:
    _assert_user_error(tmp_path, "is a directory")


@pytest.mark.parametrize("content", [b"", b"\n \n\t\n"])
def test_corpus_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    _assert_user_error(path, "is empty")


def test_corpus_empty_after_decompression(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\n\n"))
    _assert_user_error(path, "is empty")


@pytest.mark.parametrize(
    "content, problem", [(b"abc\x00def\n", "NUL"), (b"caf\xe9 au lait\n", "not UTF-8")]
)
def test_corpus_binary(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    _assert_user_error(path, problem)


@pytest.mark.parametrize("suffix", [".gz", ".xz"])
def test_corpus_corrupt_archive(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    path.write_bytes(b"plain text, not compressed\n")
    _assert_user_error(path, f"not valid {suffix[1:]} data")
