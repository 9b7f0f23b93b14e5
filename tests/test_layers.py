"""The layers hold: imports point down (cli -> experiments -> runs, models, data -> config, files),
no module imports itself through others, nothing below the CLI writes to the terminal, and every
module stays small enough to read. Checked on the source, so a new module is covered the day it
is added."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "d2l_lab"
BELOW_CLI = ["runs", "optimizers", "embeddings", "datasets", "config"]
FORBIDDEN = {
    "runs": ("d2l_lab.cli", "d2l_lab.experiments"),  # the generic loop is handed what it needs
    "optimizers": ("d2l_lab.cli", "d2l_lab.runs"),  # models and data use d2l_lab.files, not runs
    "embeddings": ("d2l_lab.cli", "d2l_lab.runs", "d2l_lab.experiments"),  # a model owns its settings
    "datasets": ("d2l_lab.cli", "d2l_lab.runs"),
    "config": ("d2l_lab.cli", "d2l_lab.experiments", "d2l_lab.runs"),
}


MAX_LINES = 400
"""A module longer than this holds more than one job."""


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports, anywhere in it (type-checking and function-level
    imports included): `from a.b import c` names module a.b.c if there is one, else a.b."""
    return {name for name in _imports(path) if name in modules}


def _below_cli() -> list[Path]:
    return [path for folder in BELOW_CLI for path in _modules(folder)]


@pytest.mark.parametrize("folder", BELOW_CLI)
def test_imports_point_down(folder):
    wrong = {f"{path.relative_to(PACKAGE)}: {name}" for path in _modules(folder) for name in _imports(path)
             for prefix in FORBIDDEN[folder] if name == prefix or name.startswith(prefix + ".")}
    assert _modules(folder) and not wrong, sorted(wrong)


def test_nothing_below_the_cli_writes_to_the_terminal():
    """print, sys.stdout/stderr and rich belong to `d2l_lab.cli`; the layers below return values,
    raise UserError or publish events."""
    found = []
    for path in [*_below_cli(), PACKAGE / "plotting.py", PACKAGE / "devices.py", PACKAGE / "files.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: print(")
            if (isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr")
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: sys.{node.attr}")
        found += [f"{path.relative_to(PACKAGE)}: imports {name}" for name in _imports(path)
                  if name == "rich" or name.startswith("rich.")]
    assert not found, found


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The AST walks above see a real violation (a check that finds nothing proves nothing)."""
    module = tmp_path / "bad.py"
    module.write_text("import sys\nfrom d2l_lab.cli import output\nfrom rich.console import Console\n"
                      "print('x', file=sys.stderr)\n")
    assert {"d2l_lab.cli", "d2l_lab.cli.output", "rich.console", "sys"} <= _imports(module)
    lazy = tmp_path / "lazy.py"
    lazy.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from d2l_lab.runs import runner\n"
                    "def f():\n    from d2l_lab.files import atomic_write_text\n")
    assert _imported_modules(lazy, {"d2l_lab.runs.runner", "d2l_lab.files"}) == {"d2l_lab.runs.runner", "d2l_lab.files"}


def test_no_module_imports_itself_through_others():
    """An import cycle, even one only type hints or a function's lazy import close, makes the
    layers a tangle: who may be changed without the other is no longer clear."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    graph = {_module_name(path): _imported_modules(path, modules) - {_module_name(path)} for path in paths}
    cycles = []
    for start in graph:  # a depth-first walk from each module back to itself
        stack, seen = [(start, [start])], set()
        while stack:
            module, route = stack.pop()
            for target in graph[module]:
                if target == start:
                    cycles.append(" -> ".join([*route, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*route, target]))
    assert not cycles, cycles


def test_no_module_is_longer_than_max_lines():
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
