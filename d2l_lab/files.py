"""Files the project writes and the user's files it reads, so that nothing is left half-done.

Writes are atomic: a temporary file in the same directory is flushed to disk and then
`os.replace`d over the target, so a reader (or a killed run) sees the old file or the new one.
A target that is a pipe or a character device (`-o /dev/stdout`, `/dev/null`) is written in
place instead: replacing it would swap the device node for a plain file. Output locations are checked before
anything is written, and a user's text file that cannot be read becomes one `UserError` line.
Every layer may use this module; it imports nothing of ours but `errors`.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from d2l_lab.errors import UserError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a temporary binary file, then move it into place."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    mode = _mode(path)
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # nothing to replace atomically
        with open(path, "wb") as f:
            write(f)
        return
    if mode is not None and (stat.S_ISBLK(mode) or stat.S_ISSOCK(mode)):
        raise OSError(errno.EINVAL, "a disk or a socket, not a file", str(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # named after the file to write, not its temporary
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:  # a write's: name the file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """UTF-8, except that a file name which is not (Python keeps its bytes as surrogates, as in
    `--corpus café.txt` named in Latin-1) is written back as its own bytes, so the command or path
    still names that file."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8", errors="surrogateescape")))


def _mode(path: Path) -> int | None:
    """`path`'s file type bits, or None when there is nothing there yet. Links are followed only
    within /dev and /proc, the system's own aliases (`/dev/stdout` -> `/proc/self/fd/1`): a link
    planted elsewhere, say `report.md -> /dev/mem`, is replaced as any file would be, never
    written through."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) and path.absolute().parts[1:2] in (("dev",), ("proc",)):
            mode = os.stat(path).st_mode
        return mode
    except OSError:  # nothing there, or a link loop, a name too long: the write itself reports those
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | Path, flag: str) -> None:
    """`path` exists as a writable directory, or could be created as one."""
    path = Path(path)
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag} '{path}': '{probe}' is a file, not a directory; pick another {flag}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag} '{path}' is not writable ('{probe}' refuses writes): pick another {flag}")


def check_output_file(path: str | Path, flag: str) -> None:
    """A file to write (a plot, a report): its directory must exist and be writable."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise UserError(f"{flag} '{path}': directory '{parent}' does not exist; create it or pick another path")
    check_writable(parent, flag)


_READ_BLOCK = 1 << 20


def read_utf8_text(path: Path, what: str, fix: str) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); `what` names it in errors, `fix` says
    what to give instead. Read a block at a time, so a pipe works (`-i /dev/stdin`) while an
    endless binary stream (`/dev/zero`, `/dev/urandom`) is refused at its first block, not read
    until memory runs out."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    parts: list[str] = []
    offset = 0
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(_READ_BLOCK)
                if (nul := block.find(b"\0")) >= 0:
                    raise UserError(f"{what} '{path}' looks binary (a NUL byte at offset {offset + nul}): {fix}")
                parts.append(decoder.decode(block, final=not block))
                offset += len(block)
                if not block:  # newlines as `Path.read_text` gives them
                    return "".join(parts).replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise UserError(f"{what} '{path}' does not exist: {fix}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} '{path}' is not UTF-8 text (bad byte near offset {offset + exc.start}): "
                        f"{fix}") from None
    except OSError as exc:
        raise UserError(f"{what} '{path}' cannot be read ({exc.strerror or exc}): {fix}") from None
