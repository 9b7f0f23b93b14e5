"""What a run does when its surroundings fail it mid-run: a write refused (the disk full, a file
size limit `ulimit -f`, a directory made read-only), memory exhausted (`ulimit -v`, a container's
limit, another process), or its directory gone (deleted, or moved while it trained).

None of these is a bug, so none is a traceback: the run ends with one line (exit 2) saying what
happened and how to go on, and is marked `failed` in summary.json where that can still be
written (where it cannot, its summary still says `running`, which `runs list` shows as
`interrupted` once the process is gone: `d2l_lab.runs.writer`). Every file is written
atomically and a checkpoint holds whole steps, so what was written before stays valid and
`--resume` continues from the last checkpoint once the cause is gone.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.runs.resuming import read_summary

_FIX = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space or raise the quota",
        errno.EFBIG: "raise the file size limit (ulimit -f)", errno.EROFS: "make it writable",
        errno.EACCES: "make it writable", errno.EPERM: "make it writable"}


class RunDirGone(OSError):
    """The run directory is no longer where the run started it (`check_in_place`)."""


def identity(run_dir: Path) -> tuple[int, int]:
    """What tells the run directory from another at the same path (a moved one, a new one)."""
    info = os.stat(run_dir)
    return info.st_dev, info.st_ino


def check_in_place(run_dir: Path, started: tuple[int, int]) -> None:
    """Raise RunDirGone when `run_dir` was deleted or moved: asked before every step (one stat),
    so a run stops within a step instead of training for an epoch it can no longer save."""
    try:
        gone = identity(run_dir) != started
    except OSError:
        gone = True
    if gone:
        raise RunDirGone(errno.ENOENT, "the run directory is gone", str(run_dir))


def run_failure(run_dir: Path, exc: BaseException) -> UserError | None:
    """The one line for `exc`, raised while `run_dir` trained, after marking the run failed where
    it still can; None when `exc` is none of the failures above (a bug: let it through)."""
    resume = f"--resume {run_dir}"
    if isinstance(exc, RunDirGone) or not run_dir.is_dir():
        return UserError(f"run directory '{run_dir}' is gone (deleted, or moved while the run trained): nothing "
                         "more can be saved there; a moved run continues from its last checkpoint with --resume "
                         "NEW_PATH")
    if isinstance(exc, OSError):
        where = f"'{clip(exc.filename, 120)}'" if exc.filename else f"in '{run_dir}'"
        reason, fix = f"cannot write {where}: {exc.strerror or clip(exc)}", _FIX.get(exc.errno, "fix the cause")
    elif out_of_memory(exc):
        reason = f"out of memory ({clip(str(exc).strip().splitlines()[0] if str(exc).strip() else '', 120)})"
        fix = "free memory or lower the sizes (dim, batch size)"
    else:
        return None
    if mark_failed(run_dir, reason):
        return UserError(f"{reason}; the run is marked failed and the files written before are intact: {fix}, "
                         f"then continue it with {resume}")
    return UserError(f"{reason}; the files written before are intact (the summary could not be marked failed: "
                     f"`runs list` shows the run interrupted): {fix}, then continue it with {resume}")


def out_of_memory(exc: BaseException) -> bool:
    """Python's and numpy's MemoryError, torch's allocators' RuntimeError ("DefaultCPUAllocator:
    can't allocate memory", `torch.OutOfMemoryError` on a GPU)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def mark_failed(run_dir: Path, reason: str) -> bool:
    """summary.json says `failed` and why; False when it cannot be written (or read) either."""
    summary = read_summary(run_dir)
    if not summary:
        return False
    summary.update(status="failed", error=reason, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    try:
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return True
    except OSError:  # the disk is still full
        return False


