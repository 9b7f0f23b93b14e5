"""What a run needs recorded to be trusted later: versions and the code's git commit."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path

import d2l_lab

NOT_A_CHECKOUT = ("installed package, not a checkout: run d2l from the d2l-lab clone it was installed from, or "
                  "install it with pip install -e")
"""Why `git_commit` is null when neither the package nor the working directory is a checkout."""
TRACKED = ("d2l_lab", "configs")
"""The checkout's folders an installed package holds: the package, and the presets (as d2l_lab/configs)."""


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "d2l_lab": d2l_lab.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def commit_fields() -> dict[str, str | None]:
    """summary.json's `git_commit`, and `git_commit_reason` (why it is null) when it is unknown."""
    commit, reason = git_commit()
    return {"git_commit": commit} if commit is not None else {"git_commit": None, "git_commit_reason": reason}


def git_commit() -> tuple[str | None, str]:
    """(the commit of the code that runs, ""), or (None, why it cannot be known).

    The package's own source tree when it is a checkout (an editable install, PYTHONPATH). Only a
    repository whose top level holds the package counts: an installed package sits in a virtualenv
    that may itself lie inside some other repository, whose commit says nothing about this code.
    An installed package (`pip install .`) is the commit of the d2l-lab checkout in the working
    directory when that commit holds exactly the installed files; a checkout at another commit, or
    with changes the install took, is not this code."""
    package = Path(d2l_lab.__file__).resolve().parent
    try:
        own = _top_level_and_head(package.parent)
        if own is not None and own[0] == package.parent:
            return own[1], ""
        here = _top_level_and_head(Path.cwd())
        if here is None or not (here[0] / "d2l_lab" / "__init__.py").is_file():
            return None, NOT_A_CHECKOUT
        if not _installed_from(package, *here):
            return None, (f"the installed package differs from the checkout {here[0]} at {here[1][:12]}: "
                          "reinstall it from there (pip install .), or install with pip install -e")
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"git could not be run ({type(exc).__name__})"
    return here[1], ""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)


def _top_level_and_head(where: Path) -> tuple[Path, str] | None:
    """The top level and HEAD commit of the repository `where` is in, or None outside one."""
    done = _git("-C", str(where), "rev-parse", "--show-toplevel", "HEAD")
    lines = done.stdout.split()
    return (Path(lines[0]).resolve(), lines[1]) if done.returncode == 0 and len(lines) == 2 else None


def _installed_from(package: Path, checkout: Path, commit: str) -> bool:
    """Whether the installed `package` holds exactly the files of `commit` (git's blob hashes):
    every tracked file of the package and the presets, and no Python file besides."""
    done = _git("-C", str(checkout), "ls-tree", "-r", commit, "--", *TRACKED)
    if done.returncode != 0:
        return False
    tracked = {}
    for line in done.stdout.splitlines():
        meta, _, path = line.partition("\t")
        top, _, rest = path.partition("/")
        tracked[package / rest if top == "d2l_lab" else package / top / rest] = meta.split()[2]
    installed = {p for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    return bool(tracked) and installed <= set(tracked) and all(
        path.is_file() and _blob_hash(path.read_bytes()) == blob for path, blob in tracked.items())


def _blob_hash(content: bytes) -> str:
    """git's object id of a file's content (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
