"""Which files a corpus is, and whether they stay the files that were checksummed.

A corpus is a file or a directory of files (its visible regular files in name order; one warning
line counts what else it holds, `skipped_entries`). It is read more than once (its checksum, then
counting and encoding its words), so every reading stamps each file when it opens it and when it
reaches its end (`Stamp`: device, inode, size, mtime, ctime) and compares: a file that grows or is
rewritten meanwhile (a log still being written, a download still arriving) is one `CorpusChanged`
line rather than vectors of a corpus that never existed.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from d2l_lab.errors import UserError

COMPRESSED = (".gz", ".bz2", ".xz")
"""The compressed files a corpus may be, by suffix (`corpus` has a decompressor for each)."""
FORMATS = f"plain, {', '.join(COMPRESSED[:-1])} or {COMPRESSED[-1]}"
"""What help and messages say a corpus file may be."""
_FIX = f"give a UTF-8 text file ({FORMATS}) with one whitespace-tokenised sentence per line"
_DIR_FIX = f"give a directory of UTF-8 text files ({FORMATS}), or one such file"


class CorpusChanged(UserError):
    """A corpus file that changed between or during its readings."""


Stamp = tuple[int, int, int, int, int]
"""A file's (device, inode, size, mtime_ns, ctime_ns): any write changes the ctime at least, and
replacing the file changes the inode."""


def stamp(f: IO[bytes]) -> Stamp:
    st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def changed(what: str, detail: str = "") -> CorpusChanged:
    return CorpusChanged(f"{what} changed while being read{detail}: wait until it is complete, or copy it "
                         "and give the copy")


def check_same_files(path: str | Path, files: list[Path], expected: Mapping[Path, Stamp]) -> None:
    """A `CorpusChanged` when a corpus directory's files are not those `expected` (a file came or went)."""
    if list(expected) != files:
        went, came = sorted(set(expected) - set(files)), sorted(set(files) - set(expected))
        news = [f"'{p.name}' appeared" for p in came] + [f"'{p.name}' went" for p in went]
        raise changed(f"corpus directory '{shown(path)}'", f" ({', '.join(news[:3])})" if news else "")


def bad(path: Path, problem: str) -> UserError:
    return UserError(f"corpus file '{shown(path)}' {problem}: {_FIX}")


def shown(path: str | Path, limit: int = 200) -> str:
    """`path` as a message shows it: whole up to `limit` characters, else its start and its end (a
    path can be as long as PATH_MAX, 4,096 bytes)."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit // 3]}...{text[-(limit - limit // 3 - 3):]}"


def check_path(path: str | Path) -> Path:
    """`path` as a Path, refusing an empty one (it would silently mean the working directory)."""
    if str(path) == "":
        raise UserError(f"the corpus path is empty: {_FIX}")
    return Path(path)


def check_regular(path: Path) -> None:
    """A corpus is read more than once (checksum, counting, encoding): a pipe or a device such as
    /dev/zero cannot be, and an endless one would never finish, so only regular files are read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise bad(path, "does not exist") from None
    except OSError as exc:
        raise bad(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise bad(path, "is a directory")
    if not stat.S_ISREG(mode):
        raise bad(path, "is a pipe or a device, not a regular file (a corpus is read more than once)")


def open_raw(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise bad(path, "does not exist") from None
    except IsADirectoryError:
        raise bad(path, "is a directory") from None
    except OSError as exc:
        raise bad(path, f"cannot be read ({exc.strerror or exc})") from None


def corpus_files(path: str | Path) -> list[Path]:
    """The files of a corpus: the file itself, or a directory's visible regular files in name order
    (`skipped_entries` says what else the directory holds)."""
    return _listing(path)[0]


def _listing(path: str | Path) -> tuple[list[Path], Counter[str]]:
    path = check_path(path)
    try:
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise bad(path, "does not exist") from None
    except OSError as exc:  # a name longer than the system allows, a link loop, no permission
        raise bad(path, f"cannot be read ({exc.strerror or exc})") from None
    if not is_dir:
        check_regular(path)
        return [path], Counter()
    skipped: Counter[str] = Counter()
    try:
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        files = [p for p in entries if p.is_file()]
        for entry in entries:
            if not entry.is_file():
                skipped[_kind(entry)] += 1
    except OSError as exc:
        raise UserError(f"corpus directory '{shown(path)}' cannot be read ({exc.strerror or exc}): {_DIR_FIX}") from None
    if not files:
        also = f" ({_describe(skipped)}, skipped)" if skipped else ""
        raise UserError(f"corpus directory '{shown(path)}' has no files{also}: {_DIR_FIX}")
    return files, skipped


_KINDS = {"subdirectory": "subdirectories", "pipe or device": "pipes or devices", "broken link": "broken links"}


def _kind(entry: Path) -> str:
    if entry.is_dir():
        return "subdirectory"
    return "pipe or device" if entry.exists() else "broken link"


def _describe(skipped: Counter[str]) -> str:
    return ", ".join(f"{n} {kind if n == 1 else _KINDS[kind]}" for kind, n in sorted(skipped.items()))


def skipped_entries(path: str | Path) -> str | None:
    """One warning line saying what a corpus directory holds besides its files (subdirectories,
    which are not read recursively, pipes and devices, broken links), or None. Hidden entries
    (`.git`, `.DS_Store`) are never corpus files and go unmentioned."""
    files, skipped = _listing(path)
    if not skipped:
        return None
    return (f"corpus directory '{path}': skipped {_describe(skipped)}; read its {len(files)} regular "
            f"file{'s' if len(files) > 1 else ''} (subdirectories are not read)")
