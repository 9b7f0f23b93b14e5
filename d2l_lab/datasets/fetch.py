"""`d2l data fetch`: pretrained vectors and training corpora downloaded once, verified, cached (the
evaluation sets `d2l data fetch` also knows are `eval_downloads`).

The vectors' archives are the ones the d2l book's `DATA_HUB` lists, with the book's sha1s, so a
fetched file is exactly what the book's chapter "Word Similarity and Analogy" uses. A corpus
(text8) is one member of its archive, unpacked as is after the archive's and the member's sha1s
are checked (SOURCES.md says where each checksum was published). Nothing else in the project
downloads; tests point the registry at local `file://` and `http://127.0.0.1` archives.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from d2l_lab.cache import default_cache_dir
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

D2L_DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
_CHUNK = 1 << 20

Progress = Callable[[int, "int | None"], None]
"""Told (bytes received so far, total bytes or None) after every chunk; the CLI draws a bar."""


@dataclass(frozen=True)
class RemoteVectors:
    url: str
    sha1: str
    description: str


@dataclass(frozen=True)
class RemoteCorpus:
    """A training corpus: the archive's one member `member` (sha1 `member_sha1`, at most
    `max_bytes` unpacked), kept as `<cache>/corpora/<name>/<member>` for `--corpus PATH`."""

    url: str
    sha1: str
    description: str
    member: str
    member_sha1: str
    max_bytes: int


REMOTES: dict[str, RemoteVectors | RemoteCorpus] = {
    "glove.6b.50d": RemoteVectors(D2L_DATA_URL + "glove.6B.50d.zip", "0b8703943ccdb6eb788e6f091b8946e82231bc4d",
                                  "GloVe, 400k words x 50, Wikipedia 2014 + Gigaword 5 (the book's choice)"),
    "glove.6b.100d": RemoteVectors(D2L_DATA_URL + "glove.6B.100d.zip", "cd43bfb07e44e6f27cbcc7bc9ae3d80284fdaf5a",
                                   "GloVe, 400k words x 100, Wikipedia 2014 + Gigaword 5"),
    "glove.42b.300d": RemoteVectors(D2L_DATA_URL + "glove.42B.300d.zip", "b5116e234e9eb9076672cfeabf5469f3eec904fa",
                                    "GloVe, 1.9M words x 300, Common Crawl 42B tokens"),
    "wiki.en": RemoteVectors(D2L_DATA_URL + "wiki.en.zip", "c1816da3821ae9f43899be655002f6c723e91b88",
                             "fastText, English Wikipedia, 300 dimensions"),
    "text8": RemoteCorpus("http://mattmahoney.net/dc/text8.zip", "6c70299b93b7e1f927b42cd8f6ac1a31547c7a2e",
                          "text8, 17M tokens of Wikipedia (2006) as one line",
                          "text8", "0dc3edebc970dcc96137e7deda4d9995af9d93de", 100_000_000),
}


def fetch(name: str, *, progress: Progress | None = None) -> Path:
    """The path of the named vectors or corpus file, downloading and verifying it on first use."""
    if name not in REMOTES:
        raise UserError(f"unknown name '{name}': choose vectors or a corpus ({', '.join(REMOTES)}) or an "
                        "evaluation set (`d2l data list` names them)")
    remote = REMOTES[name]
    corpus = isinstance(remote, RemoteCorpus)
    folder = default_cache_dir() / ("corpora" if corpus else "vectors") / name
    target = folder / (remote.member if corpus else "vec.txt")
    if target.is_file():
        return target
    manual = "train on it with --corpus FILE" if corpus else "query it with `d2l embed ... --vectors FILE`"

    def place(archive: Path) -> None:
        if corpus:
            _extract_corpus(archive, target, name, remote)
        else:
            _extract_vectors(archive, target, name)

    download_checked(name, remote.url, folder, place, expected=remote.sha1, by_hand=manual, progress=progress)
    return target


def download_checked(name: str, url: str, folder: Path, place: Callable[[Path], None], *, expected: str,
                     by_hand: str, progress: Progress | None, algorithm: str = "sha1") -> None:
    """Download `url` into a file of its own in `folder`, check its digest, then hand it to `place`
    (which moves or unpacks it into the cache); a failure anywhere leaves nothing behind."""
    folder.mkdir(parents=True, exist_ok=True)
    # A name of its own: two fetches of the same thing at once (two terminals, a sweep) must not
    # write into, or delete, each other's download; the last to finish replaces the target atomically.
    handle, part = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=folder)
    os.close(handle)
    download = Path(part)
    try:
        digest = download_file(url, download, progress=progress, algorithm=algorithm, by_hand=by_hand)
        if digest != expected:
            raise UserError(f"download of '{name}' has {algorithm} {digest}, expected {expected}: the file is "
                            "damaged or changed upstream, so it was not kept; run the command again")
        place(download)
    finally:
        download.unlink(missing_ok=True)
        try:
            folder.rmdir()  # a failed fetch leaves nothing behind (fails, as it should, when not empty)
        except OSError:
            pass


def download_file(url: str, path: Path, *, progress: Progress | None, algorithm: str = "sha1",
              by_hand: str = "query it with `d2l embed ... --vectors FILE`") -> str:
    """Stream `url` into `path`, returning the `algorithm` digest (hex) of what arrived."""
    digest = hashlib.new(algorithm)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(received, total)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot download {url} ({reason}): this machine may be offline; download it by hand "
                        f"and {by_hand}") from None
    return digest.hexdigest()


def _extract_vectors(archive: Path, target: Path, name: str) -> None:
    """Copy the archive's vectors file (`*/vec.txt`, or its only `.txt`) to `target` atomically."""
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.namelist() if m.endswith(".txt") and not m.endswith("/")]
        chosen = [m for m in members if m.endswith("vec.txt")] or members
        if not chosen:
            raise UserError(f"the '{name}' archive holds no .txt vectors file")
        with bundle.open(chosen[0]) as source:
            atomic_write(target, lambda out: shutil.copyfileobj(source, out, _CHUNK))


def _extract_corpus(archive: Path, target: Path, name: str, remote: RemoteCorpus) -> None:
    """Copy the archive's one member `remote.member` to `target` atomically, refusing any other
    layout, more than `max_bytes` (counted as it is unpacked: a zip's declared sizes can lie) and
    a member whose sha1 is not the published one."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if [m.filename for m in members] != [remote.member]:
                raise UserError(f"the '{name}' archive holds {[m.filename for m in members][:3]}, not the one "
                                f"file '{remote.member}': the download is not the expected archive")
            sha1, size = hashlib.sha1(), 0

            def copy(out: IO[bytes]) -> None:
                nonlocal size
                with bundle.open(members[0]) as source:
                    while block := source.read(_CHUNK):
                        size += len(block)
                        if size > remote.max_bytes:
                            raise UserError(f"the '{name}' archive unpacks to more than {remote.max_bytes:,} "
                                            "bytes: the download is not the expected archive")
                        sha1.update(block)
                        out.write(block)
                if sha1.hexdigest() != remote.member_sha1:
                    raise UserError(f"'{remote.member}' in the '{name}' archive has sha1 {sha1.hexdigest()}, "
                                    f"expected {remote.member_sha1}: the file is damaged or changed upstream")

            atomic_write(target, copy)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as exc:
        raise UserError(f"the '{name}' archive cannot be unpacked ({exc}): run the command again") from None
