"""A child process that draws a run's figures, started as the run starts.

matplotlib takes about a second to import, as long as a whole optimizer run, and a run only needs
it at its end. `d2l run` starts this child at once, so the import happens on another core while
the run imports torch and trains; the run then hands each figure's data to the child and gets
PNG bytes back, which it writes itself (the run stays its directory's one writer). Without a child,
or if the child fails in any way, the run draws the figure itself: the same function, the same
bytes, only later.
"""

from __future__ import annotations

import atexit
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

Render = Callable[[str, dict[str, Any]], bytes]
"""(figure function name, its keyword arguments) -> the figure as PNG bytes."""

_SERVE = "import os; os.nice(10); from d2l_lab.plotting import serve_renders; serve_renders()"
"""The child yields the CPU to the run (and anything else) while it imports: on an idle core it
costs the run nothing, on a busy machine it does not slow the run's steps or its Ctrl-C."""
_HEADER = struct.Struct("<?Q")
"""A reply: (ok, length of the payload that follows: PNG bytes, or the error's text)."""

_child: subprocess.Popen[bytes] | None = None
_enabled = False


def enable() -> None:
    """Called by the `d2l` process's entry point: `start` starts a child only after this, so a
    caller running commands in its own process (a test, a sweep worker) keeps drawing there, where
    matplotlib is imported once for all its runs."""
    global _enabled
    _enabled = True


def start() -> None:
    """Start the drawing child (once per process, and not in one that has imported matplotlib
    already); a failure to start leaves drawing in-process."""
    global _child
    if _child is not None or _draws_here():
        return
    try:
        # Its own session: a Ctrl-C at the terminal is the run's to handle, not the child's.
        _child = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return
    atexit.register(stop)


def _draws_here() -> bool:
    """A caller's own process (`enable` not called) or one with matplotlib imported draws itself."""
    return not _enabled or "matplotlib" in sys.modules


def stop() -> None:
    """End the child now: it holds nothing but a half-finished import or an idle wait."""
    global _child
    child, _child = _child, None
    if child is not None:
        child.kill()
        child.wait()


def render(name: str, kwargs: dict[str, Any], local: Render) -> bytes:
    """The figure drawn by the child when one runs, else (or when it fails) by `local`."""
    if _child is not None:
        try:
            return _ask(_child, name, kwargs)
        except (OSError, EOFError, pickle.PicklingError, _ChildFailed):
            stop()
    return local(name, kwargs)


class _ChildFailed(Exception):
    """The child could not draw the figure; the run draws it, and so raises the error itself."""


def _ask(child: subprocess.Popen[bytes], name: str, kwargs: dict[str, Any]) -> bytes:
    assert child.stdin is not None and child.stdout is not None
    pickle.dump((name, kwargs), child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
    child.stdin.flush()
    ok, length = _HEADER.unpack(_read_exactly(child.stdout, _HEADER.size))
    payload = _read_exactly(child.stdout, length)
    if not ok:
        raise _ChildFailed(payload.decode("utf-8", "replace"))
    return payload


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the drawing child ended")
    return data


def serve(local: Render) -> None:
    """The child's loop: read (name, kwargs) from the run, answer with PNG bytes, until its end."""
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            name, kwargs = pickle.load(requests)  # the parent process's own data, never a file
        except EOFError:
            return
        try:
            ok, payload = True, local(name, kwargs)
        except Exception as exc:  # reported to the run, which draws the figure itself
            ok, payload = False, repr(exc).encode()
        replies.write(_HEADER.pack(ok, len(payload)) + payload)
        replies.flush()
