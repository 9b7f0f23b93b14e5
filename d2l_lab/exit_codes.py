"""The exit codes of every `d2l` command, defined once (the help text, the runner, sweeps and
`runs rerun` all use these names)."""

from __future__ import annotations

OK = 0
INTERNAL = 1
"""A bug in d2l-lab: a traceback was printed."""
BAD_INPUT = 2
"""The user's input was refused with one line naming the problem and the fix; also a run that
another process is training (`--resume` of it, a sweep point on it), and a run whose surroundings
failed it (a write refused, memory exhausted, its directory gone: `runs.faults`)."""
DIVERGED = 3
"""The loss diverged; the run directory says at which step."""
CHECK_FAILED = 4
"""`d2l runs rerun --check`: the re-run's metrics differ from the stored ones."""
INTERRUPTED = 130
"""Ctrl-C, SIGTERM or SIGHUP, however many (or a stopped sweep): the state was saved; `--resume` or
re-issuing continues it."""

SUMMARY = (f"Exit codes: {OK} done, {INTERNAL} internal error, {BAD_INPUT} bad input, {DIVERGED} diverged, "
           f"{CHECK_FAILED} rerun --check differs, {INTERRUPTED} interrupted (Ctrl-C, SIGTERM, SIGHUP).")
"""The line `d2l --help` shows."""
