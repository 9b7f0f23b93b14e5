"""What a run needs recorded to be trusted later: versions and the code's git commit."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import d2l_lab


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "d2l_lab": d2l_lab.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def git_commit() -> str | None:
    """The commit of the d2l_lab source tree, when it is a git checkout (not an installed wheel).

    Only a repository whose top level holds the package counts: an installed package sits in a
    virtualenv that may itself lie inside some other repository, whose commit says nothing about
    this code."""
    source = Path(d2l_lab.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != source:
        return None
    return lines[1]
