"""What a run directory promises when things go wrong: bad input is one line and exit 2 with nothing
left behind; Ctrl-C and SIGKILL leave a loadable checkpoint that resumes to the same result; runs
started together never collide; checkpoints and configs cannot execute code."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from d2l_lab.runs.checkpoint import load_checkpoint

from .conftest import d2l, only_run_dir

D2L = [sys.executable, "-m", "d2l_lab"]
TINY = ("--problem", "quadratic", "--steps", "5")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs for the bad-input cases: broken configs, a plain file where a directory belongs, two runs."""
    base = tmp_path_factory.mktemp("inputs")
    (base / "malformed.yaml").write_text("optimizer: {lr: 0.1\n")
    (base / "list.yaml").write_text("- optimizer\n- lr\n")
    (base / "section-list.yaml").write_text("optimizer: [adam, 0.1]\n")
    (base / "unknown.yaml").write_text("optimiser:\n  lr: 0.1\n")
    (base / "tag.yaml").write_text(f"seed: !!python/object/apply:os.system ['touch {base / 'pwned'}']\n")
    (base / "file").write_text("not a directory\n")
    (base / "duplicate.yaml").write_text("optimizer:\n  lr: 0.1\n  algo: adam\n  lr: 0.2\n")
    (base / "duplicate-section.yaml").write_text("train:\n  steps: 5\ntrain:\n  steps: 6\n")
    (base / "laughs.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n")
    (base / "merge.yaml").write_text("base: &base {lr: 0.1}\noptimizer:\n  <<: *base\n")
    (base / "long-value.yaml").write_text("optimizer:\n  algo: '" + "adam\\n" * 5000 + "'\n")
    (base / "long-list.yaml").write_text("problem:\n  start: [" + ", ".join(["1"] * 20000) + "]\n")
    (base / "one-word-lines.txt").write_text("".join(f"w{i % 5}\n" for i in range(200)))
    (base / "control.txt").write_text("a b c d\nd e\x01f g a\na b c\n" * 3)
    (base / "nan.vec").write_text("a 1 2\nb nan 1\n")
    (base / "inf.vec").write_text("2 2\na 1 2\nb 1 -inf\n")
    (base / "overflow.vec").write_text("a 1 2\nb 1 1e39\n")
    (base / "not-a-run").mkdir()
    runs = base / "runs"
    for lr in ("0.1", "0.2"):
        assert d2l("run", "optim", *TINY, "--lr", lr, "--quiet", "--out", str(runs)).exit_code == 0
    return base


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


RUN_ID = "{run}"
BAD_INPUT = [
    # run optim (tests/test_run_optim.py and tests/test_config.py cover ~25 more)
    (["run", "optim", "--set", "optimizer.lr=.inf"], "'optimizer.lr' must be a finite number"),
    (["run", "optim", "--set", "train.epochs=two"], "'train.epochs' must be a whole number"),
    (["run", "optim", "--set", "train.epochs=-1"], "'train.epochs' must be >= 1"),
    (["run", "optim", "--config", "{in}/list.yaml"], "mapping of key: value at the top level"),
    (["run", "optim", "--config", "{in}/section-list.yaml"], "config section 'optimizer' must be a mapping"),
    (["run", "optim", "--config", "{in}/unknown.yaml"], "unknown config key 'optimiser'"),
    (["run", "optim", "--config", "{in}/tag.yaml"], "malformed YAML"),
    (["run", "optim", *TINY, "--out", "{in}/file/outputs"], "cannot create outputs directory"),
    # sweep
    (["sweep", "optim", "--grid", "lr"], "--grid expects key=v1,v2"),
    (["sweep", "optim", "--grid", "lr="], "--grid lr: empty value"),
    (["sweep", "optim", "--grid", "lr=0.1,,0.2"], "--grid lr: empty value"),
    (["sweep", "optim", "--grid", "lrr=0.1,0.2"], "unknown --grid key 'lrr': did you mean 'lr'"),
    (["sweep", "optim", "--grid", "name=a,b"], "'name' is ambiguous: use one of problem.name, schedule.name"),
    (["sweep", "optim", "--grid", "lr=0.1,-1"], "grid point lr=-1: config key 'optimizer.lr' must be > 0"),
    (["sweep", "optim", "--grid", "lr=0.1,.inf"], "grid point lr=.inf: .*finite number"),
    (["sweep", "optim", "--grid", "algo=sgd,adamm"], "grid point algo=adamm: .*did you mean 'adam'"),
    (["sweep", "optim", "--grid", "batch-size=0,10"], "'train.batch_size' must be >= 1"),
    (["sweep", "optim", "--grid", "lr=0.1", "--grid", "lr=0.2"], "--grid lr is given twice"),
    (["sweep", "optim", "--grid", "lr=0.1,0.1"], "value '0.1' is given twice"),
    (["sweep", "optim", "--grid", "lr=0.01,1e-2"], "resolve to the same config"),
    (["sweep", "optim", "--grid", "seed=1,2", "--seeds", "2"], "not both"),
    (["sweep", "optim", "--seeds", "0"], "--seeds must be >= 1"),
    (["sweep", "optim", "--grid", "lr=0.1", "--jobs", "0"], "--jobs must be >= 1"),
    (["sweep", "optim", "--grid", "lr=0.1,0.2", "--set", "optimizer.lr=1"], "both swept .* and fixed"),
    (["sweep", "optim"], "nothing to sweep"),
    (["sweep", "nope", "--grid", "lr=0.1"], "unknown experiment 'nope'"),
    (["sweep", "optim", "--grid", "lr=0.1", "--name", "../../x"], "sweep name '../../x' is not allowed"),
    (["sweep", "optim", "--grid", "lr=0.1", "--preset", "adam", "--config", "{in}/list.yaml"], "either --preset or"),
    (["sweep", "optim", "--grid", "lr=0.1", "--config", "{in}/malformed.yaml"], "malformed YAML"),
    (["sweep", "optim", "--grid", "lr=0.1", "--config", "{in}/tag.yaml"], "malformed YAML"),
    (["sweep", "optim", "--grid", "device=cpu,cuda:7"], "CUDA is not available|only .* CUDA device"),
    (["sweep", "optim", "--grid", "lr=0.1", "--out", "{in}/file/outputs"], "is a file, not a directory"),
    # trust (issue 12): duplicate keys, aliases, clipped echoes, seeds, names, grid size, empty training
    (["run", "optim", "--config", "{in}/duplicate.yaml"], r"line 4, column 3: key 'lr' is given twice \(first at line 2\)"),
    (["run", "optim", "--config", "{in}/duplicate-section.yaml"], "key 'train' is given twice"),
    (["run", "optim", "--config", "{in}/laughs.yaml"], r"alias '\*a' is not allowed"),
    (["run", "optim", "--config", "{in}/merge.yaml"], r"alias '\*base' is not allowed"),
    (["run", "optim", "--config", "{in}/long-value.yaml"], r"^.{0,400}$"),
    (["run", "optim", "--config", "{in}/long-list.yaml"], r"must have 2 items.{0,200}$"),
    (["run", "optim", "--set", "optimizer.algo=" + "x" * 5000], r"got 'x{77}\.\.\.'"),
    (["run", "optim", "--set", "optimizer.algo=a\u2028b"], r"must be one of .* got 'a\\u2028b'"),
    (["run", "optim", "--set", "train.steps=[" + "1," * 3000 + "1]"], r"must be a whole number, got \[1, 1, .{0,80}$"),
    (["run", "optim", "--seed", str(2**70)], r"'seed' must be a whole number of magnitude below 2\*\*63"),
    (["run", "optim", "--seed", str(2**40)], r"'seed' must be >= 0 and < 4294967296, got 1099511627776"),
    (["run", "optim", "--seed", "-1"], r"'seed' must be >= 0 and < 4294967296"),
    (["run", "optim", "--set", f"seed={2**64}"], r"'seed' must be a whole number of magnitude below 2\*\*63"),
    (["run", "word2vec", "--seed", str(2**32)], r"'seed' must be >= 0 and < 4294967296"),
    (["sweep", "optim", "--grid", f"seed=1,{2**64}"], r"grid point seed=18446744073709551616: .*below 2\*\*63"),
    (["sweep", "optim", "--grid", f"seed=1,{2**33}"], r"grid point seed=8589934592: .*< 4294967296"),
    (["run", "optim", *TINY, "--name", "abc\n"], r"run name 'abc\\n' is not allowed"),
    (["run", "optim", *TINY, "--name", "a\nb/c"], r"run name 'a\\nb/c' is not allowed"),
    (["run", "optim", *TINY, "--name", "x" * 300], r"is 300 characters long: give at most 200"),
    (["run", "optim", *TINY, "--name", "é" * 200], r"is not allowed"),
    (["sweep", "optim", "--grid", "lr=0.1,0.2", "--name", "y" * 300], r"is 300 characters long"),
    (["sweep", "optim", "--grid", "lr=0.1,0.2", "--seeds", str(10**9)], r"the grid has 2,000,000,000 points "
                                                                       r"\(2 x 1,000,000,000\).*--max-points"),
    (["sweep", "optim", "--grid", "lr=" + ",".join(f"0.{i:04d}1" for i in range(150)), "--grid",
      "seed=" + ",".join(map(str, range(100)))], r"the grid has 15,000 points \(150 x 100\), more than the 10,000"),
    (["sweep", "optim", "--grid", "lr=0.1,0.2,0.3", "--max-points", "2"], r"3 points .*more than the 2 allowed"),
    (["sweep", "optim", "--grid", "lr=0.1", "--max-points", "0"], r"--max-points must be >= 1"),
    (["run", "word2vec", "--corpus", "{in}/one-word-lines.txt", "--min-count", "1"], "no line with two or more words"),
    (["run", "fasttext", "--corpus", "{in}/one-word-lines.txt", "--min-count", "1"], "no line with two or more words"),
    (["run", "glove", "--corpus", "{in}/one-word-lines.txt", "--min-count", "1"], "no line with two or more words"),
    (["run", "ppmi-svd", "--corpus", "{in}/one-word-lines.txt", "--min-count", "1"], "no line with two or more words"),
    (["sweep", "word2vec", "--grid", "lr=0.1,0.2", "--set", "corpus={in}/one-word-lines.txt", "--set",
      "word2vec.min_count=1"], r"grid point lr=0.1: corpus .* has no line with two or more words"),
    (["sweep", "glove", "--grid", "min-count=1,2", "--set", "corpus={in}/one-word-lines.txt"],
     r"grid point min-count=1: corpus .* no line with two or more words"),
    (["run", "word2vec", "--corpus", "{in}/control.txt", "--min-count", "1"], r"the word 'e\\x01f' holds a control"),
    (["run", "ppmi-svd", "--corpus", "{in}/control.txt", "--min-count", "1"], r"holds a control character"),
    (["sweep", "glove", "--grid", "lr=0.1,0.2", "--set", "corpus={in}/control.txt", "--set", "glove.min_count=1"],
     r"grid point lr=0.1: .*holds a control character"),
    (["sweep", "word2vec", "--grid", "lr=0.1,0.2", "--set", "corpus={in}/missing.txt"],
     r"grid point lr=0.1: corpus file .*missing.txt' does not exist"),
    (["embed", "similar", "--vectors", "{in}/nan.vec", "a"], r"line 2: the vector of 'b' holds nan"),
    (["embed", "similar", "--vectors", "{in}/inf.vec", "a"], r"line 3: the vector of 'b' holds -inf"),
    (["embed", "similar", "--vectors", "{in}/overflow.vec", "a"], r"holds inf, not a finite float32"),
    (["embed", "analogy", "--vectors", "{in}/nan.vec", "a", "b", "a"], r"holds nan"),
    # runs
    (["runs", "show", "zzz"], "no run or sweep matches 'zzz'"),
    (["runs", "show", "2"], "'2' matches 2 runs or sweeps: optim/2.*, optim/2.*; give a longer id prefix"),
    (["runs", "show", "{in}/not-a-run"], "neither a run directory .* nor a sweep directory"),
    (["runs", "list", "--status", "done"], "--status must be one of"),
    (["runs", "list", "--experiment", "nope"], "unknown experiment 'nope'"),
    (["runs", "compare", RUN_ID, "--metric", "accuracy"], "has no metric 'accuracy'"),
    (["runs", "compare", RUN_ID, "-o", "{in}/plot.jpg"], "must end in .png"),
    (["runs", "compare", RUN_ID, "-o", "{in}/missing/plot.png"], "directory .* does not exist"),
    (["runs", "rerun", "zzz"], "no run or sweep matches"),
    # report
    (["report", RUN_ID, "-o", "{in}/report.pdf"], "use .html or .md"),
    (["report", "zzz", "-o", "{in}/report.html"], "no run or sweep matches 'zzz'"),
    (["report", RUN_ID, "--metric", "accuracy", "-o", "{in}/report.html"], "has no metric|none of these runs"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a[:3]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing_behind(files, tmp_path, args, message):
    runs = files / "runs"
    run = sorted((runs / "optim").iterdir())[0].name
    args = [a.replace("{in}", str(files)).replace(RUN_ID, run) for a in args]
    if args[0] == "sweep" or args[:2] == ["run", "optim"]:
        args += ["--out", str(tmp_path / "outputs")] if "--out" not in args else []
    elif args[0] == "embed":
        pass
    else:
        args += ["--out", str(runs)]
    before = _tree(files)
    result = d2l(*args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "outputs").exists()
    assert _tree(files) == before
    assert not (files / "pwned").exists()


def test_an_unwritable_outputs_root_is_refused_before_anything_starts(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permission bits do not stop writes (the file-as-directory cases "
                        "in the bad-input test cover the same code path)")
        for args in (["run", "optim", *TINY], ["sweep", "optim", "--grid", "lr=0.1,0.2"]):
            result = d2l(*args, "--out", str(locked / "outputs"))
            assert result.exit_code == 2 and "not writable" in result.stderr, result.output
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_marks_the_run_interrupted(tmp_path):
    proc = subprocess.Popen([*D2L, "run", "optim", "--problem", "quadratic", "--steps", "3000000", "--quiet",
                             "--out", str(tmp_path)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(tmp_path.glob("optim/*/summary.json")))  # the loop has started
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    run = only_run_dir(tmp_path / "optim")
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert "continue with --resume" in proc.stderr.read()
    state = load_checkpoint(run / "checkpoint.pt")
    assert 0 < state["step"] < 3000000 and state["metric_rows"] == state["step"] + 1
    assert json.loads((run / "summary.json").read_text())["wall_time_s"] > 0


SGD_3_EPOCHS = ("--preset", "sgd", "--epochs", "3")  # 4500 steps, a checkpoint per epoch (1500 steps)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert d2l("run", "optim", *SGD_3_EPOCHS, "--quiet", "--out", str(out)).exit_code == 0
    return only_run_dir(out / "optim")


def _same_run(run: Path, reference: Path) -> None:
    resumed, whole = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert resumed["status"] == "completed" and resumed["final"] == whole["final"]
    assert (run / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


@pytest.mark.slow
def test_sigkill_leaves_a_loadable_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    proc = subprocess.Popen([*D2L, "run", "optim", *SGD_3_EPOCHS, "--quiet", "--out", str(tmp_path)])
    try:
        _wait_for(lambda: list(tmp_path.glob("optim/*/checkpoint.pt")))  # killed right after the first checkpoint
        proc.kill()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    run = only_run_dir(tmp_path / "optim")
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert load_checkpoint(run / "checkpoint.pt")["step"] in (1500, 3000)
    assert d2l("run", "optim", "--resume", str(run), "--quiet").exit_code == 0
    _same_run(run, uninterrupted)


@pytest.mark.slow
def test_an_interrupted_sweep_reissued_resumes_its_point_to_the_uninterrupted_result(tmp_path, uninterrupted):
    sweep = ("sweep", "optim", *SGD_3_EPOCHS[:2], "--set", "train.epochs=3", "--seeds", "1", "--out", str(tmp_path))
    proc = subprocess.Popen([*D2L, *sweep, "--quiet"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(tmp_path.glob("optim/*/checkpoint.pt")))  # the point is past its first epoch
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the sweep forwards it; the point stops between two steps
        assert proc.wait(timeout=60) == 130, proc.stderr.read()
    finally:
        proc.kill()
    run = only_run_dir(tmp_path / "optim")
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    again = d2l(*sweep, "--json")
    assert again.exit_code == 0, again.stderr
    assert "resumed from its checkpoint" in again.stderr
    assert only_run_dir(tmp_path / "optim") == run
    _same_run(run, uninterrupted)


@pytest.mark.slow
def test_eight_runs_started_at_once_by_xargs_all_land_complete_in_distinct_dirs(tmp_path):
    """A shell sweep (`xargs -P`), four of them with the same config in the same second."""
    lrs = "0.1 0.1 0.1 0.1 0.2 0.3 0.4 0.5"
    command = (f"printf '%s\\n' {lrs} | xargs -P 8 -I LR {sys.executable} -m d2l_lab run optim "
               f"--problem quadratic --steps 5 --lr LR --json --out {tmp_path}")
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summaries = [json.loads(line) for line in done.stdout.splitlines()]  # one whole JSON line per run
    assert len(summaries) == 8 and len({s["run_dir"] for s in summaries}) == 8
    hashes = [s["config_hash"] for s in summaries]
    assert sorted(hashes.count(h) for h in set(hashes)) == [1, 1, 1, 1, 4]
    twins = [s["final"] for s in summaries if hashes.count(s["config_hash"]) == 4]
    assert all(final == twins[0] for final in twins)
    dirs = list((tmp_path / "optim").iterdir())
    assert len(dirs) == 8
    for run in dirs:
        assert json.loads((run / "summary.json").read_text())["status"] == "completed"
        assert (run / "checkpoint.pt").is_file() and (run / "config.yaml").is_file()


class _CreatesAFile:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_crafted_pickle_in_a_checkpoint_is_refused_not_executed(tmp_path):
    assert d2l("run", "optim", *TINY, "--quiet", "--out", str(tmp_path)).exit_code == 0
    run = only_run_dir(tmp_path / "optim")
    canary = tmp_path / "canary"
    pickle.loads(pickle.dumps(_CreatesAFile(canary)))  # the payload is real: plain pickle runs it
    assert canary.exists()
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "task": _CreatesAFile(marker)}, run / "checkpoint.pt")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))  # else nothing to resume
    result = d2l("run", "optim", "--resume", str(run))
    assert result.exit_code == 2
    assert "cannot be loaded safely" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_a_run_config_with_an_object_tag_is_refused_by_every_reader(tmp_path):
    assert d2l("run", "optim", *TINY, "--quiet", "--out", str(tmp_path)).exit_code == 0
    run = only_run_dir(tmp_path / "optim")
    marker = tmp_path / "pwned"
    (run / "config.yaml").write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    for args in (["runs", "show", run.name], ["runs", "rerun", run.name], ["run", "optim", "--resume", str(run)]):
        result = d2l(*args, "--out", str(tmp_path)) if args[0] == "runs" else d2l(*args)
        assert result.exit_code == 2 and "malformed YAML" in result.stderr, result.output
    assert not marker.exists()


def test_help_does_not_import_torch_or_matplotlib():
    code = ("import sys; from typer.testing import CliRunner; from d2l_lab.cli.main import app\n"
            "from d2l_lab.experiments.registry import EXPERIMENTS\n"
            "for args in (['--help'], ['run', '--help'], *(['run', name, '--help'] for name in EXPERIMENTS), "
            "['sweep', '--help'], ['runs', 'list', '--help'], ['runs', 'compare', '--help'], ['report', '--help']):\n"
            "    r = CliRunner().invoke(app, args); assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
