"""`d2l data fetch`: pretrained vectors downloaded once, verified, cached.

The archives are the ones the d2l book's `DATA_HUB` lists, with the book's sha1s, so a fetched
file is exactly what the book's chapter "Word Similarity and Analogy" uses. Nothing else in the
project downloads; tests point the registry at local `file://` archives.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from d2l_lab.cache import default_cache_dir
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

D2L_DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteVectors:
    url: str
    sha1: str
    description: str


REMOTES: dict[str, RemoteVectors] = {
    "glove.6b.50d": RemoteVectors(D2L_DATA_URL + "glove.6B.50d.zip", "0b8703943ccdb6eb788e6f091b8946e82231bc4d",
                                  "GloVe, 400k words x 50, Wikipedia 2014 + Gigaword 5 (the book's choice)"),
    "glove.6b.100d": RemoteVectors(D2L_DATA_URL + "glove.6B.100d.zip", "cd43bfb07e44e6f27cbcc7bc9ae3d80284fdaf5a",
                                   "GloVe, 400k words x 100, Wikipedia 2014 + Gigaword 5"),
    "glove.42b.300d": RemoteVectors(D2L_DATA_URL + "glove.42B.300d.zip", "b5116e234e9eb9076672cfeabf5469f3eec904fa",
                                    "GloVe, 1.9M words x 300, Common Crawl 42B tokens"),
    "wiki.en": RemoteVectors(D2L_DATA_URL + "wiki.en.zip", "c1816da3821ae9f43899be655002f6c723e91b88",
                             "fastText, English Wikipedia, 300 dimensions"),
}


def fetch(name: str, *, progress: bool = True) -> Path:
    """The path of the named vectors file, downloading and verifying it on first use."""
    if name not in REMOTES:
        raise UserError(f"unknown vectors '{name}': choose one of {', '.join(REMOTES)}")
    remote = REMOTES[name]
    folder = default_cache_dir() / "vectors" / name
    target = folder / "vec.txt"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "download.zip.part"
    try:
        digest = _download(remote.url, archive, progress=progress)
        if digest != remote.sha1:
            raise UserError(f"download of '{name}' has sha1 {digest}, expected {remote.sha1}: the file is "
                            "damaged or changed upstream; run the command again")
        _extract_vectors(archive, target, name)
    finally:
        archive.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()  # a failed fetch leaves nothing behind
    return target


def _download(url: str, path: Path, *, progress: bool) -> str:
    """Stream `url` into `path`, returning the sha1 of what arrived."""
    sha1 = hashlib.sha1()
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _bar(total, url.rsplit("/", 1)[-1], progress) as advance:
                while chunk := response.read(_CHUNK):
                    sha1.update(chunk)
                    out.write(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot download {url} ({reason}): this machine may be offline; download it by hand "
                        f"and query it with `d2l embed ... --vectors FILE`") from None
    return sha1.hexdigest()


def _extract_vectors(archive: Path, target: Path, name: str) -> None:
    """Copy the archive's vectors file (`*/vec.txt`, or its only `.txt`) to `target` atomically."""
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.namelist() if m.endswith(".txt") and not m.endswith("/")]
        chosen = [m for m in members if m.endswith("vec.txt")] or members
        if not chosen:
            raise UserError(f"the '{name}' archive holds no .txt vectors file")
        with bundle.open(chosen[0]) as source:
            atomic_write(target, lambda out: shutil.copyfileobj(source, out, _CHUNK))


@contextmanager
def _bar(total: int | None, label: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A rich download bar on a terminal (stderr); silent when piped."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)
