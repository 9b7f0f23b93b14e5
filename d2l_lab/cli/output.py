"""The one way `d2l` writes: results on stdout (lines, one-line JSON, tables), messages on stderr.

Keeping every write here means stdout carries only results, so `--json` output is exactly one
parseable line and a table can be piped, while progress and warnings stay on the terminal.

Where the results go is not ours to choose, so every way stdout can refuse them is handled: when
the reader stopped reading (`d2l runs list | head -1`), the terminal is gone (closed, an ssh session
dropped: EIO) or stdout is closed (`>&-`), the rest of the
results are dropped without a word and the command ends with its own exit code (a diverged run
still exits 3), since whoever reads has what it wanted; text the stdout encoding cannot hold
(`PYTHONIOENCODING=ascii` and a word like "café") is one `error:` line and exit 2. Messages on
stderr are always one line, whatever they echo.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from d2l_lab import exit_codes

MIN_TABLE_WIDTH = 140
"""Tables are at least this wide even when piped (rich assumes 80), so run ids are not folded."""
GAP = 2
"""Spaces between the columns of a table printed with `fit` (no rules between columns)."""
FIT_MIN = 12
"""The fewest characters a `fit` column is cut to; a terminal narrower than that wraps."""


def write_line(text: str = "") -> None:
    _write_stdout(text + "\n")


def write_text(text: str) -> None:
    """Text that already ends as it should (a YAML document, a tokenised file)."""
    _write_stdout(text)


def write_json(data: Any) -> None:
    """One compact JSON line: what `--json` promises (ASCII, so any stdout encoding holds it)."""
    _write_stdout(json.dumps(data, separators=(",", ":")) + "\n")


def _write_stdout(text: str) -> None:
    _guarded(lambda stream: (stream.write(text), stream.flush()))


def _guarded(write: Callable[[Any], Any]) -> None:
    """Run `write(sys.stdout)`; with a closed or broken stdout the text is dropped, an encoding
    that cannot hold it is one line and exit 2 (see the module doc)."""
    if sys.stdout is None or sys.stdout.closed:
        return
    try:
        write(sys.stdout)
    except OSError as exc:
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EIO:  # EIO: the terminal is gone
            raise
        _silence_stdout()
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        error(f"the output holds {ascii(bad)}, which stdout's encoding ({exc.encoding}) cannot write: "
              "set PYTHONIOENCODING=utf-8 or use a UTF-8 locale")
        raise SystemExit(exit_codes.BAD_INPUT) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered, later results and the interpreter's final
    flush all go there instead of failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test's captured stdout)
        pass


def note(text: str) -> None:
    """A message for the person at the terminal, never part of the results; with stderr closed
    (`2>&-`) it is dropped, and the command still ends with its own exit code."""
    if sys.stderr is None:
        return
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # a closed or broken stderr
        pass


def warn(message: str) -> None:
    note(f"warning: {_one_line(message)}")


def error(message: str) -> None:
    note(f"error: {_one_line(message)}")


def _one_line(message: str) -> str:
    """A message that echoes user input keeps to one line: line breaks and other control
    characters are escaped (`\\n`), as `config.schema.clip` does for values."""
    return "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in message)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
                show_header: bool = True, fit: str | None = None) -> None:
    """A plain table on stdout; `show_header=False` for key/value tables such as a run's summary.

    `fit`: the column cut short (`…`) so that each row stays one line of the terminal (`COLUMNS`,
    80 when piped); the other columns are never cut, so a terminal too narrow for them wraps."""
    from rich.console import Console
    from rich.table import Table

    if fit is not None:  # the title is a line of its own, wrapped at the terminal's width
        table = Table(box=None, pad_edge=False, show_header=show_header, header_style="bold")
        kept = sum(_widest(c, rows, i) + GAP for i, c in enumerate(columns) if c != fit)
        width = max(Console().width, kept + FIT_MIN)
        for column in columns:
            table.add_column(column, no_wrap=True, overflow="ellipsis",
                             max_width=width - kept if column == fit else None)
    else:
        table = Table(title=title, show_edge=False, pad_edge=False, show_header=show_header)
        for column in columns:
            table.add_column(column, overflow="fold")
        width = max(Console().width, MIN_TABLE_WIDTH)
    for row in rows:
        table.add_row(*row)
    console = Console(width=width)
    console.on_broken_pipe = _broken_pipe  # rich would exit 1 itself; a reader that stopped is not an error
    heading = [title] if fit is not None and title else []
    _guarded(lambda stream: (console.print(*heading, table, markup=False, highlight=False), stream.flush()))


def _widest(column: str, rows: Sequence[Sequence[str]], index: int) -> int:
    return max([len(column), *(len(row[index]) for row in rows)])


def _broken_pipe() -> None:
    raise BrokenPipeError
