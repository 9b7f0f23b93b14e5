"""Reading a user's text file so that every failure is one actionable line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from d2l_lab.errors import UserError


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
