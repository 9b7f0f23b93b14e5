"""Where d2l-lab keeps what it can rebuild or re-download: co-occurrence counts, encoded corpora,
fetched vectors, binary copies of large vector files.

The cache is an optimisation: when the configured directory cannot be used (`D2L_LAB_CACHE` names
a file, or a directory that refuses writes), `default_cache_dir` falls back to a temporary
directory removed when the process ends, i.e. no cache, and leaves one warning for the run loop to
show (`take_warnings`). Where the cache is the point (`d2l data fetch`), `require_cache_dir`
refuses instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from d2l_lab.errors import UserError

_fallback: Path | None = None
_warnings: list[str] = []


def configured_cache_dir() -> Path | None:
    """$D2L_LAB_CACHE, else $XDG_CACHE_HOME/d2l-lab, else ~/.cache/d2l-lab; None when none of them
    names a place: a relative XDG_CACHE_HOME is ignored (as the XDG spec says) and an empty or
    relative HOME would put the cache in whatever directory the command runs from."""
    if os.environ.get("D2L_LAB_CACHE"):
        return Path(os.environ["D2L_LAB_CACHE"])
    if os.environ.get("XDG_CACHE_HOME") and os.path.isabs(os.environ["XDG_CACHE_HOME"]):
        return Path(os.environ["XDG_CACHE_HOME"]) / "d2l-lab"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no entry in the password database
        return None
    return home / ".cache" / "d2l-lab" if home.is_absolute() else None


_NO_HOME = "directory is not configured (HOME is unset, empty or relative, and D2L_LAB_CACHE is unset)"


def lasting_cache_dir() -> tuple[Path | None, str | None]:
    """(the configured cache directory, None) when it can be used, else (None, why not): for a
    cache worth writing only where it lasts, which `default_cache_dir`'s fallback does not."""
    configured = configured_cache_dir()
    problem = _NO_HOME if configured is None else cache_problem(configured)
    return (configured, None) if problem is None else (None, problem)


def default_cache_dir() -> Path:
    """The configured cache directory, or (once warned) a throw-away one when it is unusable."""
    global _fallback
    usable, problem = lasting_cache_dir()
    if usable is not None:
        return usable
    if _fallback is None:
        _fallback = Path(tempfile.mkdtemp(prefix="d2l-lab-nocache-"))
        atexit.register(shutil.rmtree, _fallback, ignore_errors=True)
        _warnings.append(f"cache {problem}: running without a cache (set D2L_LAB_CACHE to a writable directory)")
    return _fallback


def require_cache_dir(why: str) -> Path:
    """The configured cache directory, or one UserError line when it cannot be used."""
    usable, problem = lasting_cache_dir()
    if usable is None:
        raise UserError(f"{why} needs a cache, but {problem}: set D2L_LAB_CACHE to a writable directory")
    return usable


def cache_problem(path: Path) -> str | None:
    """Why `path` cannot serve as the cache directory, or None when it can (or can be created)."""
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"directory '{path}' cannot be made: '{probe}' is a file"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"directory '{path}' is not writable ('{probe}' refuses writes)"
    return None


def take_warnings() -> list[str]:
    """The cache's warnings not yet shown (each is given once)."""
    taken = list(_warnings)
    _warnings.clear()
    return taken
