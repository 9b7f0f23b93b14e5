"""Evaluation sets `d2l data fetch NAME` downloads once, verifies and caches: sets that papers
report but whose licences do not let us ship them (SOURCES.md gives each one's origin).

A file is pinned by a digest of its exact bytes (sha256 where we hashed the bytes ourselves; BATS
by the sha1 gluon-nlp published for the same URL). It is written to `<cache>/evalsets/NAME/` only
after it verified, atomically, so a damaged download leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from d2l_lab.cache import default_cache_dir
from d2l_lab.datasets.fetch import Progress, download_checked
from d2l_lab.errors import UserError

FARUQUI = ("https://raw.githubusercontent.com/mfaruqui/eval-word-vectors/"
           "94b3dd9fdbac7ed08dbee7179cd5ee464acf0594/data/word-sim/")
"""wordvectors.org's copies (Faruqui & Dyer 2014), pinned at a commit."""


@dataclass(frozen=True)
class RemoteEvalSet:
    url: str
    digest: str
    """`algorithm:hex` of the file's exact bytes."""
    filename: str
    description: str


EVAL_DOWNLOADS: dict[str, RemoteEvalSet] = {
    "men3k": RemoteEvalSet(
        FARUQUI + "EN-MEN-TR-3k.txt", "sha256:888b13580faa362c7b11da0a670258cf1b1eb4bf0ecbcd418918729a3bd3f43a",
        "EN-MEN-TR-3k.txt", "MEN-3k, 3,000 word pairs, relatedness 0-50 (Bruni et al. 2014)"),
    "rw": RemoteEvalSet(
        FARUQUI + "EN-RW-STANFORD.txt", "sha256:5108d54dfc746f44f9c3d7e31d2857c37cf71430bc1594175a61a3b89bb0ae1f",
        "EN-RW-STANFORD.txt", "Stanford Rare Words, 2,034 pairs of rare words, 0-10 (Luong et al. 2013)"),
    "simverb3500": RemoteEvalSet(
        FARUQUI + "EN-SimVerb-3500.txt", "sha256:9d84274e7ad029fd3cf69dd0516e9ade624bbef9bd4e2050f6cc1fa01471e0f5",
        "EN-SimVerb-3500.txt", "SimVerb-3500, 3,500 verb pairs, similarity 0-10 (Gerz et al. 2016)"),
    "mturk771": RemoteEvalSet(
        FARUQUI + "EN-MTurk-771.txt", "sha256:04dc297c9e86b6fa7cf8ef0e4ba2e2c8d3399ec68d92fb7a53c0b4aae27198b5",
        "EN-MTurk-771.txt", "MTurk-771, 771 word pairs, relatedness 1-5 (Halawi et al. 2012)"),
    "bats3": RemoteEvalSet(
        "https://s3.amazonaws.com/blackbirdprojects/tut_vsm/BATS_3.0.zip",
        "sha1:bf94d47884be9ea83af369beeea7499ed25dcf0d", "BATS_3.0.zip",
        "BATS 3.0, 40 analogy categories x 50 pairs, 98,000 questions (Gladkova et al. 2016)"),
}


def fetched_path(name: str) -> Path:
    """Where the fetched set lives; one line saying how to fetch it when it is not there."""
    path = _target(name)
    if not path.is_file():
        raise UserError(f"evaluation set '{name}' is not fetched: run `d2l data fetch {name}` (once, online)")
    return path


def fetch_eval_set(name: str, *, progress: Progress | None = None) -> Path:
    """The path of the named set's file, downloading and verifying it on first use."""
    remote = EVAL_DOWNLOADS[name]
    target = _target(name)
    if target.is_file():
        return target
    algorithm, expected = remote.digest.split(":")
    download_checked(name, remote.url, target.parent, lambda download: os.replace(download, target),
                     expected=expected, algorithm=algorithm, progress=progress,
                     by_hand=f"put it at {target} after checking its {algorithm} is {expected}")
    return target


def _target(name: str) -> Path:
    return default_cache_dir() / "evalsets" / name / EVAL_DOWNLOADS[name].filename
