"""The data files shipped inside the package, so that no run ever downloads anything.

Each file is xz-compressed and pinned by the sha1 of its decompressed content, which is also
the sha1 of the original upstream file: a run can record exactly which data it saw, and a
damaged or edited install fails loudly instead of training on the wrong numbers.
"""

from __future__ import annotations

import functools
import hashlib
import lzma
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class BundledFile:
    """One shipped data file: where it lives in the package and what its content must hash to."""

    filename: str
    sha1: str
    source: str


REGISTRY: dict[str, BundledFile] = {
    "airfoil": BundledFile(
        "airfoil_self_noise.dat.xz",
        "76e5be1548fd8222e5074cf0faae75edff8cf93f",
        "NASA airfoil self-noise, UCI Machine Learning Repository (CC BY 4.0)",
    ),
    "ptb.train": BundledFile(
        "ptb.train.txt.xz",
        "f9ffb014fa33bd5730e5029697ad245184f3a678",
        "Penn Treebank (Mikolov's LM preprocessing), ptb/ptb.train.txt from the d2l ptb.zip",
    ),
    "google_analogies": BundledFile(
        "questions-words.txt.xz",
        "fa92df4bbe788f2d51827c762c63bd8e470edf31",
        "Google analogy set (word2vec distribution, as in gensim's test data)",
    ),
    "wordsim353": BundledFile(
        "wordsim353.tsv.xz",
        "5207d1bb6dd863994fa4032f48f149bf28a5468e",
        "WordSimilarity-353, Finkelstein et al. (as in gensim's test data)",
    ),
    "simlex999": BundledFile(
        "simlex999.txt.xz",
        "c156b6497ee66bbc63c6610e603ec5d563ca931f",
        "SimLex-999, Hill et al. (as in gensim's test data)",
    ),
}


class ChecksumError(RuntimeError):
    """A bundled file does not hash to its registered sha1: the installation is damaged."""


def _entry(name: str) -> BundledFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no bundled data set {name!r}; known: {', '.join(REGISTRY)}") from None


@functools.lru_cache(maxsize=None)
def read_bytes(name: str) -> bytes:
    """Decompressed, sha1-verified content of a bundled file (cached: PTB is read often).

    Read through importlib.resources so that it works from an installed wheel or zip too.
    """
    entry = _entry(name)
    raw = (resources.files(__package__) / "data" / entry.filename).read_bytes()
    content = lzma.decompress(raw)
    actual = hashlib.sha1(content).hexdigest()
    if actual != entry.sha1:
        raise ChecksumError(
            f"bundled data file {entry.filename!r} has sha1 {actual}, expected {entry.sha1}: "
            "the installation is damaged, reinstall d2l-lab"
        )
    return content


def read_text(name: str) -> str:
    """Bundled file as text; every shipped file is ASCII/UTF-8."""
    return read_bytes(name).decode("utf-8")


def checksum(name: str) -> str:
    """Checksum string recorded in summary.json, e.g. ``"sha1:76e5be..."``."""
    return f"sha1:{_entry(name).sha1}"
