"""Refuse an output location before anything is written there, rather than fail half-way.

The check is explicit (`os.access` on the nearest existing directory) so a sweep or a report stops
with one line and leaves nothing behind; a later OSError is still turned into a UserError by the
callers, because root ignores permission bits and a read-only filesystem refuses everyone.
"""

from __future__ import annotations

import os
from pathlib import Path

from d2l_lab.errors import UserError


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
