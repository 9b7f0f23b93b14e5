"""Docs that cannot rot: the README and docs/ are checked as code.

- Every fenced block marked `<!-- runnable -->` runs, from an empty directory, and exits 0 (slow).
- Every relative link and #anchor resolves; the README stays short and keeps its set-up commands.
- docs/cli.md is what Typer's generator makes of the current command line.

The conventions are in docs/contributing.md ("Runnable docs").
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.doc_pages import DOCS, README, ROOT

PAGES = [README, ROOT / "ARCHITECTURE.md", *sorted(DOCS.glob("*.md"))]
MARKER = re.compile(r'<!-- runnable(?: expect="([^"]*)")? -->')
FENCE = re.compile(r"```(\w*)\s*")
LANGUAGES = ("bash", "python")
README_LIMIT = 12 * 1024
INSTALL = ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install ".[dev]" '
           "&& d2l run optim --algo adam --lr 0.01")
TEST = 'python -m pip install ".[dev,ray,slurm,tensorboard,tune]" && python -m pytest -q'
REFRESH_CLI = "typer d2l_lab.cli.main utils docs --name d2l --output docs/cli.md"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    expect: tuple[str, ...]

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def runnable_blocks(page: Path) -> list[Block]:
    """The page's marked blocks, in order; a marker not directly above a bash or python fence fails.
    Markers inside fenced blocks (a page showing the convention) are text, not markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    fence_open = ""  # the backticks of the fenced block we are in, if any
    for number, line in enumerate(lines):
        if fence_open:
            fence_open = "" if line.strip() == fence_open else fence_open
            continue
        if line.startswith("```"):
            fence_open = re.match(r"`+", line).group(0)
            continue
        if not line.strip().startswith("<!-- runnable"):
            continue
        marker = MARKER.fullmatch(line.strip())
        assert marker, f"{page.name}:{number + 1}: malformed marker {line!r}"
        fence = FENCE.fullmatch(lines[number + 1]) if number + 1 < len(lines) else None
        assert fence and fence.group(1) in LANGUAGES, \
            f"{page.name}:{number + 1}: a runnable marker must be directly above a ```bash or ```python fence"
        end = next(i for i in range(number + 2, len(lines)) if lines[i].strip() == "```")
        expect = tuple(t for t in (marker.group(1) or "").split("|") if t)
        blocks.append(Block(page, number + 2, fence.group(1), "\n".join(lines[number + 2:end]) + "\n", expect))
    return blocks


RUNNABLE_PAGES = [page for page in PAGES if page.exists() and runnable_blocks(page)]


def test_the_runnable_markers_are_well_formed_and_the_readme_has_its_tour():
    blocks = [block for page in PAGES for block in runnable_blocks(page)]
    readme = [block for block in blocks if block.page == README]
    assert len(readme) >= 5, "the README's tour is no longer marked runnable"
    tour = "".join(block.code for block in readme)
    for command in ("d2l run optim", "d2l sweep", "d2l runs compare", "d2l run word2vec", "d2l embed similar",
                    "d2l embed analogy", "d2l embed eval", "d2l report"):
        assert command in tour, f"the README's tour no longer runs `{command}`"
    for block in blocks:  # what the runnable set must not need (docs/contributing.md)
        assert not re.search(r"--launcher (ray|slurm)|d2l data fetch|--tensorboard|pip install", block.code), \
            f"{block.where()}: needs an extra or the network; leave it out of the runnable set"


def _environment(tmp_path: Path) -> dict[str, str]:
    """This checkout's `d2l` and this Python first on PATH, an empty cache, no colours."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("d2l", f"{shlex.quote(sys.executable)} -m d2l_lab"),
                          ("python", shlex.quote(sys.executable)), ("python3", shlex.quote(sys.executable))):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("D2L_LAB")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", D2L_LAB_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])), NO_COLOR="1")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE_PAGES])
def test_every_runnable_block_runs_from_an_empty_directory(tmp_path, page):
    """A page's blocks run in order in one empty directory (later blocks see earlier outputs), each
    block one shell session that must exit 0."""
    work = tmp_path / "work"
    work.mkdir()
    env = _environment(tmp_path)
    for block in runnable_blocks(page):
        command = ["bash", "-euo", "pipefail", "-c", block.code] if block.language == "bash" else \
            [sys.executable, "-c", block.code]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
        report = f"{block.where()} exited {done.returncode}:\n{block.code}\nstdout:\n{done.stdout[-3000:]}\n" \
                 f"stderr:\n{done.stderr[-3000:]}"
        assert done.returncode == 0, report
        for text in block.expect:
            assert text in done.stdout, f"{block.where()}: stdout no longer holds {text!r}\n{report}"


# -- links -----------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _fenced_removed(text: str) -> str:
    return re.sub(r"^(````?).*?^\1\s*$", "", text, flags=re.S | re.M)


def _prose(text: str) -> str:
    """The text outside fenced blocks and inline code, where Markdown links live."""
    return re.sub(r"`[^`\n]*`", "", _fenced_removed(text))


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _fenced_removed(path.read_text(encoding="utf-8")), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target} (no heading #{anchor} in {path.name})")
    assert not broken, f"{page.name}: {broken}"


# -- the README ------------------------------------------------------------------------------------

def test_the_readme_is_short_and_keeps_its_set_up_commands_word_for_word():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) <= README_LIMIT, f"README.md is {len(text.encode())} bytes; move detail into docs/"
    assert f"```bash\n{INSTALL}\n```" in text
    assert f"```bash\n{TEST}\n```" in text
    ci = ROOT / ".ci" / "run"  # not in an sdist
    assert not ci.exists() or TEST in ci.read_text(), ".ci/run no longer runs the README's test command"
    assert "--index-url https://download.pytorch.org/whl/cpu" in text  # where the CPU-only wheel comes from


# -- the CLI reference -----------------------------------------------------------------------------

def test_the_cli_reference_is_what_typer_generates_from_the_current_app():
    """Typer's own generator (`typer ... utils docs`), run in-process on `d2l_lab.cli.main:app`."""
    import typer.cli
    from typer.testing import CliRunner

    result = CliRunner().invoke(typer.cli.app, ["d2l_lab.cli.main", "utils", "docs", "--name", "d2l"])
    assert result.exit_code == 0, result.output
    generated = result.stdout.strip() + "\n"  # as `--output FILE` writes it
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert generated == committed, f"docs/cli.md is stale: run `{REFRESH_CLI}` and commit it"
