"""`d2l run`: one plain command per registry row, whose config flags cannot drift from the config.

A flag's name, help and default come from its config field (`config_flag`); its type is written
in the command's annotation. These tests tie the two together and tie the commands to the registry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing

import pytest
import typer

from d2l_lab.cli import run
from d2l_lab.cli.common import ctrl_c_stops
from d2l_lab.cli.flags import config_keys
from d2l_lab.cli.main import main
from d2l_lab.config.keys import field_at, short_name, value_type
from d2l_lab.config.schema import default_of
from d2l_lab.experiments.registry import EXPERIMENTS
from tests.conftest import d2l


def _commands() -> dict[str, typing.Callable]:
    return {info.name: info.callback for info in run.app.registered_commands}


def test_every_registry_experiment_has_a_run_command_and_no_other_command_exists():
    commands = _commands()
    assert set(commands) == set(EXPERIMENTS)
    assert all(commands[name].__name__ == name.replace("-", "_") for name in commands)  # `def ppmi_svd(`
    assert all(info.help == EXPERIMENTS[info.name].summary != "" for info in run.app.registered_commands)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_config_flags_are_typed_as_their_config_fields_and_named_by_the_short_name_scheme(name):
    command, config_class = _commands()[name], EXPERIMENTS[name].config_class
    hints = typing.get_type_hints(command, include_extras=True)
    parsed = {p.name: p for p in typer.main.get_command(run.app).commands[name].params}
    keys = config_keys(command)
    assert {"seed", "device"} <= set(keys)
    for parameter, key in keys.items():
        annotation = value_type(typing.get_args(hints[parameter])[0])  # Annotated[Optional[T], option]
        field, field_type = field_at(config_class, key)
        assert annotation == field_type, f"--{short_name(key)}: annotated {annotation}, config says {field_type}"
        assert parsed[parameter].opts == [f"--{short_name(key)}"]
        if field.metadata["choices"]:
            assert parsed[parameter].metavar == f"[{'|'.join(field.metadata['choices'])}]"
        assert parsed[parameter].help.startswith(field.metadata["help"])
        default = default_of(field)
        assert ("(default: " in parsed[parameter].help) is (default is not None)


def test_every_choice_is_listed_in_help_and_a_value_outside_them_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option, so each list of choices is whole
    shown = d2l("run", "optim", "--help").stdout
    for key in ("optimizer.algo", "optimizer.impl", "schedule.name", "problem.name"):
        field, _ = field_at(EXPERIMENTS["optim"].config_class, key)
        assert f"[{'|'.join(field.metadata['choices'])}]" in shown, key
    assert "[auto|cpu|cuda|cuda:N|mps]" in shown and "rosenbrock|beale" in shown
    monkeypatch.setattr(sys, "argv", ["d2l", "run", "optim", "--problem", "rosenbrok"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --problem must be one of airfoil, quadratic, rosenbrock, beale, saddle, rastrigin; got 'rosenbrok' "
        "(did you mean 'rosenbrock'?)"]


def test_the_drift_check_sees_a_wrong_annotation():
    """The check above compares real types: a float field annotated int would be reported."""
    _, lr_type = field_at(EXPERIMENTS["optim"].config_class, "optimizer.lr")
    assert lr_type is float and value_type(typing.Optional[int]) is int is not lr_type


@pytest.mark.parametrize(("args", "message"), [
    (["run", "optim", "--lrr", "3"], "error: No such option: --lrr (did you mean --lr or --rho?)"),
    (["run", "optim", "--learning-rate", "3"], "error: No such option: --learning-rate (did you mean --lr?)"),
    (["run", "word2vec", "--learning_rate", "3"], "error: No such option: --learning_rate (did you mean --lr?)"),
    (["run", "optim", "--lr", "abc"], "error: Invalid value for '--lr'"),
    (["run", "nope"], "error: No such command 'nope'"),
])
def test_a_usage_mistake_is_one_line_and_exit_2(monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "argv", ["d2l", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_a_command_group_alone_shows_its_help_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["d2l", "run"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 0 and capsys.readouterr().out.count("Usage:") == 1


def test_the_first_stop_signal_asks_the_run_to_stop_and_later_ones_only_say_so():
    """Issue 23: a second signal used to interrupt at once (a second SIGTERM killed the process,
    a second Ctrl-C raised inside whatever ran, a checkpoint write included); now every one is
    counted and none raises."""
    # As in a terminal: a shell without job control starts background jobs with SIGINT ignored,
    # and pytest run that way would inherit it (then no Ctrl-C interrupts anything).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _three_stop_signals()
    finally:
        signal.signal(signal.SIGINT, inherited)


def _three_stop_signals() -> None:
    said: list[str] = []
    with ctrl_c_stops(on_request=lambda: said.append("stopping"), on_again=lambda: said.append("again")) as stops:
        assert not stops()
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(os.getpid(), number)
            time.sleep(0.01)  # the handler runs between bytecodes of the main thread
        assert stops() and (stops.count, stops.interrupts) == (3, 1)
        assert said == ["stopping", "again"]  # said once each, the third silently
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_embed_similar_answers_the_known_words_and_names_the_unknown_ones(tmp_path):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3 2\ncat 1 0\ndog 0.9 0.1\nsun 0 1\n")
    result = d2l("embed", "similar", "--vectors", str(vectors), "cat", "zebra", "sun", "Dog", "-k", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"cat": [["dog", pytest.approx(0.9939, abs=1e-4)]],
                                         "sun": [["dog", pytest.approx(0.1104, abs=1e-4)]]}
    warned = result.stderr.strip().splitlines()
    assert len(warned) == 2 and "'zebra' is not in the vocabulary" in warned[0] and "did you mean 'dog'" in warned[1]
    result = d2l("embed", "similar", "--vectors", str(vectors), "zebra", "yak")
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        "error: the words 'zebra', 'yak' are not in the vocabulary: check spelling or lower-case them"]
    result = d2l("embed", "analogy", "--vectors", str(vectors), "cat", "zebra", "yak")
    assert result.exit_code == 2 and "'zebra', 'yak' are not in the vocabulary" in result.stderr
    assert result.stdout == ""


def test_embed_takes_a_run_id_prefix_as_runs_show_does(tmp_path):
    out = tmp_path / "outputs"
    run = out / "word2vec" / "20261207-071453-0a1b2c3d"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\nword2vec:\n  epochs: 15\n")
    (run / "summary.json").write_text(json.dumps({"experiment": "word2vec", "status": "completed"}))
    (run / "vectors.txt").write_text("4 2\nchip 1 0\nintel 0.9 0.1\nbaby 0 1\nchild 0.1 0.9\n")
    assert d2l("runs", "show", "20261207-071453", "--out", str(out)).exit_code == 0
    for ref in ("20261207-071453", str(run)):
        result = d2l("embed", "similar", ref, "chip", "-k", "1", "--out", str(out), "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["chip"][0][0] == "intel"
    assert d2l("embed", "analogy", "20261207", "chip", "intel", "baby", "--out", str(out)).exit_code == 0
    missing = d2l("embed", "similar", "20261208", "chip", "--out", str(out))
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no run or sweep matches '20261208'")
    a_file = d2l("embed", "similar", str(run / "vectors.txt"), "chip", "--out", str(out))
    assert a_file.exit_code == 2 and a_file.stderr.strip().endswith(f"give it as --vectors {run / 'vectors.txt'}")


def test_a_short_embedding_run_says_once_that_its_vectors_are_undertrained(tmp_path, capsys):
    from d2l_lab.cli.terminal import Terminal

    summary = {"experiment": "fasttext", "status": "completed", "final": {"epochs": 1.0, "loss": 4.2},
               "wall_time_s": 0.2, "device": "cpu", "run_dir": str(tmp_path)}
    Terminal(quiet=False, json=False).show_summary(summary)
    note = "note: this fasttext run trained 1 of the default 10 epochs: its vectors are undertrained"
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")] == [
        f"{note} (neighbours mostly noise)"]
    for quiet, json_ in ((True, False), (False, True)):
        Terminal(quiet=quiet, json=json_).show_summary(summary)
        assert "note:" not in capsys.readouterr().err
    Terminal(quiet=False, json=False).show_summary({**summary, "final": {"epochs": 10.0}})  # the default
    assert "note:" not in capsys.readouterr().err

    run = tmp_path / "fasttext" / "20261207-071453-0a1b2c3d"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "vectors.txt").write_text("3 2\nchip 1 0\nintel 0.9 0.1\nbaby 0 1\n")
    answered = d2l("embed", "similar", "2026", "chip", "baby", "-k", "1", "--out", str(tmp_path))
    assert answered.exit_code == 0 and answered.stdout.startswith("chip: intel")
    assert answered.stderr.splitlines() == [f"{note} (neighbours mostly noise)"]  # once for all the words
    assert d2l("embed", "similar", "2026", "chip", "--json", "--out", str(tmp_path)).stderr == ""


def test_the_analogy_methods_offered_are_the_ones_implemented():
    from d2l_lab.cli.embed import Method
    from d2l_lab.embeddings.vectors import ANALOGY_METHODS

    assert typing.get_args(typing.get_args(Method)[0]) == tuple(ANALOGY_METHODS)


def _tree(command: typing.Any, path: str = "d2l") -> dict[str, typing.Any]:
    """Every command path with what a user sees of it: help, epilog and each option's flags, help
    and default."""
    tree = {path: (command.help, command.epilog, [(p.opts, getattr(p, "help", None), p.default) for p in command.params])}
    for name, sub in getattr(command, "commands", {}).items():
        tree.update(_tree(sub, f"{path} {name}"))
    return tree


def test_the_lazy_root_builds_what_typer_builds_from_registered_groups():
    """`d2l`'s root builds a subcommand only when asked for it; what it builds is what Typer builds
    when every group is registered up front (`add_typer`, `command`); it lists them in the order
    of SUBCOMMANDS, where Typer would list the plain commands first."""
    from d2l_lab.cli.main import SUBCOMMANDS, app

    eager = typer.Typer(help=app.info.help, no_args_is_help=True, pretty_exceptions_enable=False)
    eager.callback()(app.registered_callback.callback)
    for name, target in SUBCOMMANDS.items():
        module, _, attribute = target.partition(":")
        found = getattr(__import__(module, fromlist=[attribute]), attribute)
        eager.add_typer(found, name=name) if isinstance(found, typer.Typer) else eager.command(name)(found)
    root = typer.main.get_command(app)
    assert list(root.commands) == list(SUBCOMMANDS)
    assert _tree(root) == _tree(typer.main.get_command(eager))


def test_a_run_imports_no_other_command_module():
    code = ("import sys\nfrom d2l_lab.cli.main import main\nsys.argv = ['d2l', 'run', 'optim', '--print-config']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('d2l_lab.cli.') and m.split('.')[2] in "
            "('runs', 'sweep', 'report', 'embed', 'bpe', 'data')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr
