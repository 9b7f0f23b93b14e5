"""The error the CLI turns into exit code 2, so no user mistake ever ends in a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: the message is one line naming the problem and the fix."""
