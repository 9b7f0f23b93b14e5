"""Files the project writes and the user's files it reads, so that nothing is left half-done.

Writes are atomic: a temporary file in the same directory is flushed to disk and then
`os.replace`d over the target, so a reader (or a killed run) sees the old file or the new one.
Output locations are checked before anything is written, and a user's text file that cannot be
read becomes one `UserError` line. Every layer may use this module; it imports nothing of ours
but `errors`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from d2l_lab.errors import UserError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a temporary binary file, then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


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


def read_utf8_text(path: Path, what: str, fix: str) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); `what` names it in errors, `fix` says
    what to give instead."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{what} '{path}' does not exist: {fix}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} '{path}' is not UTF-8 text (bad byte at offset {exc.start}): {fix}") from None
    except OSError as exc:
        raise UserError(f"{what} '{path}' cannot be read ({exc.strerror or exc}): {fix}") from None
