"""Help and discovery: shell completion (driven through the bash protocol, as the shell calls it)
and the examples every `--help` shows, each of which must run as shown."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
import typer

from d2l_lab.cli.main import app, main
from d2l_lab.optimizers.table import ALGORITHMS
from tests.conftest import d2l


def complete(monkeypatch, capsys, line: str) -> list[str]:
    """What `d2l` answers when bash asks to complete `line` (the cursor at its end)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    monkeypatch.setenv("_D2L_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", " ".join(words))
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 0
    return capsys.readouterr().out.split()


def test_show_completion_prints_a_bash_script(monkeypatch, capsys):
    # Typer detects the user's shell from the process tree (shellingham), which a test run need
    # not have (an orphaned or `sh`-started pytest): take the shell named on the command line.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    monkeypatch.setattr(sys, "argv", ["d2l", "--show-completion", "bash"])
    with pytest.raises(SystemExit) as stopped:
        main()
    script = capsys.readouterr().out
    assert stopped.value.code == 0 and "complete " in script and "_D2L_COMPLETE=complete_bash" in script


def test_algo_completes_to_the_tables_algorithms(monkeypatch, capsys):
    assert complete(monkeypatch, capsys, "d2l run optim --algo a") == [a for a in ALGORITHMS if a.startswith("a")]
    assert complete(monkeypatch, capsys, "d2l run optim --algo a") == ["adagrad", "adadelta", "adam", "adamw"]


def test_commands_flags_devices_and_presets_complete(monkeypatch, capsys):
    assert complete(monkeypatch, capsys, "d2l ru") == ["run", "runs"]
    assert complete(monkeypatch, capsys, "d2l run optim --sch") == ["--schedule"]
    assert complete(monkeypatch, capsys, "d2l run optim --device c") == ["cpu", "cuda", "cuda:0"]
    assert complete(monkeypatch, capsys, "d2l run optim --preset quad") == [
        "quadratic-adagrad", "quadratic-gd", "quadratic-momentum", "quadratic-rmsprop"]
    assert complete(monkeypatch, capsys, "d2l sweep optim --preset ada") == ["adadelta", "adagrad", "adam", "adamw"]
    assert complete(monkeypatch, capsys, "d2l sweep f") == ["fasttext"]
    assert complete(monkeypatch, capsys, "d2l runs list --experiment g") == ["glove"]


def test_run_ids_complete_from_the_outputs_root(monkeypatch, capsys, tmp_path):
    for experiment, run_id in [("optim", "20260101-aaa"), ("glove", "20260102-bbb"), ("optim", "20250101-ccc")]:
        (tmp_path / experiment / run_id).mkdir(parents=True)
        (tmp_path / experiment / run_id / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "optim" / "2026-not-a-run").mkdir()  # no config.yaml
    assert complete(monkeypatch, capsys, f"d2l runs show --out {tmp_path} 2026") == ["20260101-aaa", "20260102-bbb"]
    assert complete(monkeypatch, capsys, f"d2l runs rerun --out {tmp_path} 2025") == ["20250101-ccc"]
    resumable = complete(monkeypatch, capsys, f"d2l run optim --out {tmp_path} --resume ")
    assert resumable == [str(tmp_path / "optim" / "20250101-ccc"), str(tmp_path / "optim" / "20260101-aaa")]


def test_completing_imports_no_torch():
    code = ("import sys\nfrom d2l_lab.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    env = {**os.environ, "_D2L_COMPLETE": "complete_bash", "COMP_WORDS": "d2l run optim --preset a", "COMP_CWORD": "4"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["adadelta", "adagrad", "adam", "adamw"] and done.stderr.strip() == "False"


def _examples() -> list[tuple[str, list[str]]]:
    """(command path, example argv) for every `d2l ...` line of every command's --help epilog."""
    found = []

    def walk(command, path):
        for line in (command.epilog or "").splitlines():
            if line.strip().startswith("d2l "):
                found.append((path, shlex.split(line.strip())[1:]))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "d2l")
    return found


def test_every_run_command_shows_examples():
    shown = {path for path, _ in EXAMPLES}
    assert {"d2l run optim", "d2l run word2vec", "d2l run fasttext", "d2l run glove", "d2l run ppmi-svd"} <= shown


EXAMPLES = _examples()


@pytest.mark.parametrize(("path", "args"), EXAMPLES, ids=[" ".join(args) for _, args in EXAMPLES])
def test_every_help_example_runs(path, args, tmp_path):
    """Each example passes full validation as shown: its config with --print-config (every key,
    type and range), or the command's own --dry-run."""
    assert " ".join(["d2l", *args]).startswith(path)
    command = typer.main.get_command(app)
    for name in path.split()[1:]:
        command = command.commands[name]
    options = {opt for param in command.params for opt in param.opts}
    check = "--print-config" if "--print-config" in options else "--dry-run"
    if check not in options:
        pytest.skip(f"{path} has no --print-config or --dry-run to check its examples with")
    result = d2l(*args, check, *(["--out", str(tmp_path)] if "--out" in options else []))
    assert result.exit_code == 0, result.stderr
