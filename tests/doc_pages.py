"""The project's documentation pages, for the tests that check what they quote.

A test that asserts a number the docs quote (a preset's final loss, a model's rho) also asserts
that the page quotes it, so that the page and the test cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def page(name: str) -> str:
    """The text of `README.md` or of `docs/<name>`, whitespace runs (line breaks) read as one space."""
    path = README if name == "README.md" else DOCS / name
    return " ".join(path.read_text(encoding="utf-8").split())


def assert_quoted(name: str, *texts: str) -> None:
    text = page(name)
    missing = [t for t in texts if " ".join(t.split()) not in text]
    assert not missing, f"{name} no longer quotes {missing}: update the page or the test, so that they agree"


def table_rows(name: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table under `## heading` in a page, as lists of cells."""
    lines = (README if name == "README.md" else DOCS / name).read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under '## {heading}' in {name}"
    return rows[2:]  # below the header and its |---| line
