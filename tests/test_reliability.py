"""What a run directory promises when things go wrong: bad input is one line and exit 2 with nothing
left behind; Ctrl-C and SIGKILL leave a loadable checkpoint that resumes to the same result; runs
started together never collide; checkpoints and configs cannot execute code."""

from __future__ import annotations

import bz2
import json
import lzma
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

from d2l_lab.errors import UserError
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
    # every file the project reads, each broken in its own way (issue 12: "the classes nobody listed")
    text = "".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)).encode()
    os.mkfifo(base / "fifo")  # no writer: a reader that opens it blocks for ever
    (base / "notgz.txt.gz").write_bytes(text)  # named .gz, holds plain text
    (base / "trunc.txt.bz2").write_bytes(bz2.compress(text)[:60])
    (base / "trunc.txt.xz").write_bytes(lzma.compress(text)[:60])
    (base / "latin1.txt").write_bytes("caf\xe9 na\xefve the cat\n".encode("latin-1") * 5)
    (base / "blank.txt").write_text("  \n\t\n \n")
    (base / "good.vec").write_text("a 1 0\nb 0.9 0.1\nc 0 1\nd 0.1 0.9\n")
    (base / "zero.vec").write_text("a 0 0\nb 1 0\nc 0 1\nd 1 1\n")
    (base / "dims.vec").write_text("a 1 2 3\nb 1 2\n")
    (base / "lying-header.vec").write_text("5 3\na 1 2 3\nb 1 2 3\n")
    (base / "huge-header.vec").write_text("99999999999999 99999999999\na 1 2\n")
    (base / "latin1.vec").write_bytes("caf\xe9 1 2\nb 2 1\n".encode("latin-1"))
    (base / "merges.txt").write_text("#d2l-lab bpe merges v1\na b\nab _\n")
    (base / "one-symbol-merges.txt").write_text("#d2l-lab bpe merges v1\na\n")
    (base / "headless-merges.txt").write_text("a b\n")
    (base / "deep.yaml").write_text("optimizer: " + "[" * 5000 + "]" * 5000 + "\n")
    (base / "big.yaml").write_text("seed: 1\n" + "# padding\n" * 120_000)  # 1.2 MB (50 MB took minutes to parse)
    (base / "links").mkdir()
    (base / "links" / "loop1").symlink_to("loop2")
    (base / "links" / "loop2").symlink_to("loop1")
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
    (["run", "optim", "--seed", str(2**70)], r"--seed must be a whole number of magnitude below 2\*\*63"),
    (["run", "optim", "--seed", str(2**40)], r"--seed must be >= 0 and < 4294967296, got 1099511627776"),
    (["run", "optim", "--seed", "-1"], r"--seed must be >= 0 and < 4294967296"),
    (["run", "optim", "--set", f"seed={2**64}"], r"'seed' must be a whole number of magnitude below 2\*\*63"),
    (["run", "word2vec", "--seed", str(2**32)], r"--seed must be >= 0 and < 4294967296"),
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
    # every file the project reads, broken (issue 12's last part): pipes and devices, compression, encodings
    (["run", "word2vec", "--corpus", "/dev/zero", "--dry-run"], r"'/dev/zero' is a pipe or a device, not a regular"),
    (["run", "glove", "--corpus", "{in}/fifo", "--dry-run"], r"fifo' is a pipe or a device"),
    (["bpe", "learn", "/dev/zero", "--merges", "5"], r"'/dev/zero' is a pipe or a device"),
    (["sweep", "word2vec", "--grid", "lr=0.1,0.2", "--set", "corpus=/dev/zero"], r"grid point lr=0.1: .*a pipe or a device"),
    (["run", "word2vec", "--corpus", "", "--dry-run"], r"the corpus path is empty"),
    (["bpe", "learn", "", "--merges", "5"], r"the corpus path is empty"),
    (["run", "fasttext", "--corpus", "{in}/notgz.txt.gz", "--dry-run"], r"is not valid gz data \(Not a gzipped file"),
    (["run", "word2vec", "--corpus", "{in}/trunc.txt.bz2", "--dry-run"], r"is not valid bz2 data"),
    (["run", "ppmi-svd", "--corpus", "{in}/trunc.txt.xz", "--dry-run"], r"is not valid xz data"),
    (["run", "word2vec", "--corpus", "{in}/latin1.txt", "--dry-run"], r"is not UTF-8 text \(bad byte near offset 3\)"),
    (["run", "glove", "--corpus", "{in}/blank.txt", "--dry-run"], r"blank.txt' is empty"),
    (["embed", "similar", "--vectors", "/dev/zero", "a"], r"vector file /dev/zero is a pipe or a device"),
    (["embed", "similar", "--vectors", "{in}/fifo", "a"], r"fifo is a pipe or a device"),
    (["embed", "similar", "--vectors", "", "a"], r"the vector file path is empty"),
    (["embed", "similar", "--vectors", "{in}/huge-header.vec", "a"], r"vectors of 99,999,999,999 values, more than"),
    (["embed", "similar", "--vectors", "{in}/lying-header.vec", "a"], r"the header promises 5 vectors but the file has 2"),
    (["embed", "analogy", "--vectors", "{in}/dims.vec", "a", "b", "a"], r"line 2: expected 3 values after the word"),
    (["embed", "eval", "--vectors", "{in}/latin1.vec"], r"line 1: the word is not valid UTF-8"),
    (["embed", "similar", "--vectors", "{in}/zero.vec", "a"], r"word 'a' has an all-zero vector"),
    (["embed", "analogy", "--vectors", "{in}/zero.vec", "b", "a", "c"], r"word 'a' has an all-zero vector"),
    (["embed", "similar", "--vectors", "{in}/good.vec", "a", "--limit", "1"], r"only 1 word\(s\), .*nothing to answer"),
    (["embed", "analogy", "--vectors", "{in}/good.vec", "a", "b", "c", "--limit", "3"], r"only 3 word\(s\)"),
    (["bpe", "apply", "--merges", "/dev/zero", "ab"], r"merges file '/dev/zero' looks binary \(a NUL byte at offset 0\)"),
    (["bpe", "apply", "--merges", "{in}/merges.txt", "-i", "/dev/zero"], r"input file '/dev/zero' looks binary"),
    (["bpe", "apply", "--merges", "{in}/one-symbol-merges.txt", "ab"], r"line 2 is not 'LEFT RIGHT'"),
    (["bpe", "apply", "--merges", "{in}/headless-merges.txt", "ab"], r"does not start with the line '#d2l-lab bpe"),
    (["bpe", "apply", "--merges", "{in}/links/loop1", "ab"], r"cannot be read \(Too many levels of symbolic links\)"),
    (["bpe", "apply", "--merges", "{in}/merges.txt", ""], r"a WORD is empty or contains whitespace"),
    (["bpe", "learn", "{in}/one-word-lines.txt", "--merges", "5", "-o", "{in}/not-a-run"], r"cannot write .*\(Is a directory\)"),
    # configs: deep, huge, not a file; presets and --set edge syntax
    (["run", "optim", "--config", "{in}/deep.yaml"], r"nested more than 20 levels deep"),
    (["sweep", "optim", "--grid", "lr=0.1,0.2", "--config", "{in}/deep.yaml"], r"grid point lr=0.1: .*nested more than"),
    (["run", "optim", "--config", "{in}/big.yaml"], r"is 1,200,008 bytes, more than a config can need"),
    (["run", "optim", "--config", "/dev/zero"], r"'/dev/zero' is a pipe or a device, not a regular file"),
    (["run", "optim", "--set", "optimizer.lr=" + "[" * 50 + "1" + "]" * 50], r"cannot read value '\[{20}.*as YAML"),
    (["run", "optim", "--preset", ""], r"unknown preset '' for optim"),
    (["run", "optim", "--preset", "a\nb"], r"unknown preset 'a\\nb'"),
    (["run", "optim", "--set", ".=1"], r"unknown config key ''"),
    (["run", "optim", "--set", "a.b.c.d=1"], r"unknown config key 'a'"),
    (["run", "optim", "--lr", "nan"], r"--lr must be a finite number, got nan"),
    (["run", "optim", "--lr", "1e-400"], r"--lr must be > 0, got 0.0"),
    (["run", "optim", "--steps", "9" * 30], r"--steps must be a whole number of magnitude below 2\*\*63"),
    (["sweep", "optim", "--grid", "=1,2"], r"--grid expects key=v1,v2"),
    (["data", "fetch", "x\ny"], r"unknown name 'x\\ny'"),
    # runs
    (["runs", "show", "zzz"], "no run or sweep matches 'zzz'"),
    (["runs", "show", "2"], "'2' matches 2 runs or sweeps: optim/2.*, optim/2.*; give a longer id prefix"),
    (["runs", "show", "{in}/not-a-run"], "neither a run directory .* nor a sweep directory"),
    (["runs", "list", "--status", "done"], "--status must be one of"),
    (["runs", "list", "--experiment", "nope"], "unknown experiment 'nope'"),
    (["runs", "list", "--out", "{in}/file"], "outputs root .* is a file, not a directory of runs"),
    (["report", RUN_ID, "--out", "{in}/file", "-o", "{in}/r.md"], "outputs root .* is a file, not a directory"),
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
def test_bad_input_is_one_line_exit_2_and_leaves_nothing_behind(files, tmp_path, monkeypatch, args, message):
    runs = files / "runs"
    run = sorted((runs / "optim").iterdir())[0].name
    args = [a.replace("{in}", str(files)).replace(RUN_ID, run) for a in args]
    if args[0] == "sweep" or args[:2] == ["run", "optim"]:
        args += ["--out", str(tmp_path / "outputs")] if "--out" not in args else []
    elif args[0] in ("embed", "bpe", "data"):
        pass
    elif "--out" not in args:
        args += ["--out", str(runs)]
    cache = tmp_path / "cache"
    monkeypatch.setenv("D2L_LAB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)  # a default output (bpe-merges.txt) would land here
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
    assert _tree(tmp_path) <= {"cache", *(f"cache/{p}" for p in _tree(cache) if not p.endswith(".tmp"))}


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
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_saves_a_checkpoint_and_marks_the_run_interrupted(tmp_path, stop):
    """Ctrl-C, and SIGTERM: what `timeout`, `docker stop` and a Slurm preemption send first."""
    proc = subprocess.Popen([*D2L, "run", "optim", "--problem", "quadratic", "--steps", "3000000", "--quiet",
                             "--out", str(tmp_path)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(tmp_path.glob("optim/*/summary.json")))  # the loop has started
        proc.send_signal(stop)
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


def test_a_legacy_pickle_checkpoint_is_one_error_line_without_torch_s_protocol_warning(tmp_path, recwarn):
    """A bare pickle of protocol 3-5 (not torch's zip format) made torch warn "Detected pickle
    protocol 5 in the checkpoint ..." above the refusal."""
    path = tmp_path / "checkpoint.pt"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps({"step": 1, "task": _CreatesAFile(marker)}, protocol=5))
    with pytest.raises(UserError, match=r"cannot be loaded safely \(Unsupported [^)]*\); it is corrupt"):
        load_checkpoint(path)  # what is wrong, not torch's "you have two options" to load it unsafely
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)] and not marker.exists()


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


# --- the classes nobody listed (issue 12): files read another way, outputs that are not files, environments ---

@pytest.mark.parametrize("first", ["plain", "gzip"])
def test_the_same_bytes_read_another_way_never_share_a_cache_entry(tmp_path, monkeypatch, first):
    """`a.txt` and `a.txt.gz` holding the same bytes are two corpora, one of them unreadable: a
    cache keyed on the raw bytes alone served the readable one's vocabulary for both."""
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    text = "".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)).encode()
    plain, named_gz = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_bytes(text)
    named_gz.write_bytes(text)
    order = [plain, named_gz] if first == "plain" else [named_gz, plain]
    results = [d2l("run", "word2vec", "--corpus", str(path), "--min-count", "1", "--dry-run") for path in order]
    codes = {path.name: result.exit_code for path, result in zip(order, results)}
    assert codes == {"a.txt": 0, "a.txt.gz": 2}, [r.output for r in results]
    refused = results[order.index(named_gz)].stderr.strip().splitlines()
    assert len(refused) == 1 and "is not valid gz data (Not a gzipped file" in refused[0]


def test_an_atomic_write_to_a_device_or_pipe_writes_through_and_never_replaces_it(tmp_path):
    """`-o /dev/stdout` or a fifo: replacing the target would swap the device node for a plain file
    (as root, `d2l bpe learn ... -o /dev/full` did exactly that and reported success)."""
    import threading

    from d2l_lab.files import atomic_write_text

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, "through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]
    atomic_write_text(os.devnull, "discarded\n")
    assert Path(os.devnull).is_char_device()


def test_a_link_planted_to_a_device_is_replaced_never_written_through(tmp_path):
    """`report.md -> /dev/mem` left in a shared directory: only /dev and /proc links (the system's
    `/dev/stdout`) are followed to a device."""
    from d2l_lab.files import atomic_write_text

    planted = tmp_path / "report.md"
    planted.symlink_to(os.devnull)
    atomic_write_text(planted, "the report\n")
    assert not planted.is_symlink() and planted.read_text() == "the report\n"
    assert Path(os.devnull).is_char_device()


def test_an_atomic_write_onto_a_directory_is_one_error_and_leaves_no_temporary(tmp_path):
    from d2l_lab.files import atomic_write_text

    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write_text(tmp_path / "dir", "x")
    assert list((tmp_path / "dir").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vectors") / "unicode.vec"
    path.write_text("café 1 0\nthé 0.9 0.1\nb 0 1\n", encoding="utf-8")
    return path


def _d2l_process(*args: str, stdout=subprocess.PIPE, **env: str | None) -> subprocess.CompletedProcess:
    """`d2l ARGS` in a process of its own, with `env` set over ours (None: unset)."""
    environ = {k: v for k, v in os.environ.items() if k not in env}
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([*D2L, *args], stdout=stdout, stderr=subprocess.PIPE, env=environ, timeout=120)


@pytest.mark.parametrize("args", [("runs", "list"), ("runs", "list", "--json"), ("run", "optim", "--print-config"),
                                  ("embed", "similar", "--vectors", "{vec}", "café")],
                         ids=["runs list", "runs list --json", "print-config", "embed similar"])
def test_a_reader_that_stops_reading_ends_the_command_quietly(files, vectors_file, args):
    """`d2l runs list | head -0`: the pipe's reader is gone before the first write."""
    args = [a.replace("{vec}", str(vectors_file)) for a in args]
    args += ["--out", str(files / "runs")] if args[0] == "runs" else []
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _d2l_process(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr.decode()


@pytest.mark.slow
def test_a_run_whose_reader_stopped_keeps_its_own_exit_code(tmp_path):
    """docs/runs.md's reliability list: a diverging run (docs/results.md's GD example) under
    `--json | head -0`: the summary line is dropped, exit 3 stays."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _d2l_process("run", "optim", "--problem", "quadratic", "--steps", "20", "--lr", "0.6", "--json",
                            "--out", str(tmp_path), stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 3 and b"Traceback" not in done.stderr, done.stderr.decode()
    assert json.loads(only_run_dir(tmp_path / "optim").joinpath("summary.json").read_text())["status"] == "diverged"


def test_a_closed_stdout_ends_the_command_quietly(files):
    """`d2l runs list --json >&-`: Python starts with sys.stdout None."""
    done = subprocess.run(f"{sys.executable} -m d2l_lab runs list --json --out {files / 'runs'} >&-", shell=True,
                          stderr=subprocess.PIPE, timeout=120)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr.decode()


@pytest.mark.parametrize("args", ["run optim --lr nan --print-config", "no-such-command"])
def test_a_closed_stderr_keeps_the_exit_code_and_stdout_clean(args):
    """`2>&-`: the `error:` line cannot be shown; printing it failed with EBADF, a second error
    that turned exit 2 into exit 1."""
    done = subprocess.run(f"{sys.executable} -m d2l_lab {args} 2>&-", shell=True, stdout=subprocess.PIPE,
                          timeout=120)
    assert (done.returncode, done.stdout) == (2, b"")


@pytest.mark.slow
def test_a_stdout_encoding_that_cannot_hold_a_word_is_one_line_and_json_still_works(vectors_file):
    done = _d2l_process("embed", "similar", "--vectors", str(vectors_file), "b", PYTHONIOENCODING="ascii")
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr.decode()
    assert lines[0].startswith("error: the output holds '\\xe9', which stdout's encoding (ascii) cannot write")
    as_json = _d2l_process("embed", "similar", "--vectors", str(vectors_file), "b", "--json",
                           PYTHONIOENCODING="ascii")
    assert as_json.returncode == 0, as_json.stderr.decode()
    assert [word for word, _ in json.loads(as_json.stdout)["b"]] == ["thé", "café"]


def test_a_c_locale_still_reads_and_writes_unicode_words(vectors_file):
    done = _d2l_process("embed", "similar", "--vectors", str(vectors_file), "café", LC_ALL="C", LANG="C",
                        PYTHONIOENCODING=None)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode("utf-8").startswith("café: thé (0.994)")


def test_a_narrow_dumb_terminal_gets_whole_run_ids_and_no_escape_codes(files):
    done = _d2l_process("runs", "list", "--out", str(files / "runs"), COLUMNS="20", TERM="dumb", NO_COLOR="1")
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "\x1b[" not in text
    for run in (files / "runs" / "optim").iterdir():
        assert run.name in text  # MIN_TABLE_WIDTH: ids are never folded, whatever COLUMNS says


@pytest.mark.slow
def test_a_relative_home_runs_without_a_cache_and_leaves_nothing_in_the_working_directory(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)))
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([*D2L, "run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--dry-run"],
                          cwd=work, capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if k != "D2L_LAB_CACHE"},
                               "HOME": "home", "XDG_CACHE_HOME": "cache"})
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: cache directory is not configured (HOME is unset, empty or relative, and "
                        "D2L_LAB_CACHE is unset): running without a cache (set D2L_LAB_CACHE to a writable directory)"]
    assert list(work.iterdir()) == []


def test_a_corpus_whose_file_name_is_not_utf8_trains_and_is_recorded_byte_for_byte(tmp_path, monkeypatch):
    """A Latin-1 file name reaches Python as surrogates: writing command.txt raised
    UnicodeEncodeError (exit 1) and left a run directory holding only config.yaml."""
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / os.fsdecode(b"caf\xe9.txt")
    corpus.write_text("".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)))
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--epochs", "1", "--dim", "8",
                 "--quiet", "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "outputs" / "word2vec")
    assert b"caf\xe9.txt" in (run / "command.txt").read_bytes()
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert d2l("run", "word2vec", "--config", str(run / "config.yaml"), "--dry-run").exit_code == 0  # it names the file


def test_a_dimension_too_large_for_memory_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 20)
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--dim", str(10**11), "--dry-run",
                 "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def _damaged_subwords(run: Path, damage: str) -> None:
    """A fastText run directory (vectors.txt, subwords.npz) whose subword table is edited by `damage`."""
    import numpy as np

    from d2l_lab.embeddings.subwords import SubwordVectors

    run.mkdir()
    (run / "vectors.txt").write_text("3 3\nmat 1 0 0\ncat 0 1 0\nsat 0 0 1\n")
    rows = np.random.default_rng(0).random((64, 3), dtype=np.float32)
    SubwordVectors(64, 3, 4, "mean", np.arange(64), rows).save(run / "subwords.npz")
    with np.load(run / "subwords.npz") as saved:
        table = {name: saved[name] for name in saved.files}
    edits = {"none": {}, "2-d meta": {"meta": np.zeros((2, 2), np.int64)}, "no buckets": {"meta": np.array([0, 3, 4])},
             "min_n > max_n": {"meta": np.array([64, 4, 3])}, "nan rows": {"rows": np.full_like(rows, np.nan)},
             "unsorted ids": {"bucket_ids": np.arange(64)[::-1].copy()},
             "text ids": {"bucket_ids": np.array(["a"] * 64)}, "other dim": {"rows": np.zeros((64, 5), np.float32)}}
    if damage == "not npz":
        (run / "subwords.npz").write_bytes(bytes(range(256)) * 2)
        return
    np.savez(run / "subwords.npz", **{**table, **edits[damage]})


@pytest.mark.parametrize("damage", ["2-d meta", "no buckets", "min_n > max_n", "nan rows", "unsorted ids",
                                    "text ids", "other dim", "not npz"])
def test_a_damaged_fasttext_subword_table_is_one_line(tmp_path, damage):
    """An unknown word is embedded from subwords.npz: a hand-edited table gave tracebacks (2-d
    meta), numpy warnings (no buckets), or silently no answer or the wrong one (NaN rows, unsorted
    ids, min_n > max_n)."""
    intact = tmp_path / "intact"
    _damaged_subwords(intact, "none")
    answered = d2l("embed", "similar", str(intact), "mats", "--json")
    assert answered.exit_code == 0 and len(json.loads(answered.stdout)["mats"]) == 3, answered.output
    run = tmp_path / "damaged"
    _damaged_subwords(run, damage)
    result = d2l("embed", "similar", str(run), "mats")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert re.match(r"error: (cannot read subword table .*re-run or resume it|run directory .*different runs)", lines[0])


@pytest.mark.parametrize("damage", ["ids out of range", "ids of other words", "offsets going back"])
def test_a_damaged_corpus_cache_is_encoded_again_never_trained_on(tmp_path, damage):
    """Same size, other contents (a disk error, a hand edit): out-of-range ids were a traceback at
    the first batch, in-range ones were silently trained on."""
    import numpy as np

    from d2l_lab.experiments.embedding_task import read_corpus

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)))
    cache = tmp_path / "cache"
    clean = read_corpus(str(corpus), 1, cache_dir=cache)
    expected_ids, expected_offsets = np.array(clean.ids), np.array(clean.offsets)
    del clean
    [ids_file] = (cache / "corpus").glob("*.ids.i32")
    [offsets_file] = (cache / "corpus").glob("*.offsets.i64")
    if damage == "offsets going back":
        offsets = np.fromfile(offsets_file, dtype="<i8")
        offsets[1], offsets[2] = offsets[2], offsets[1]
        offsets.tofile(offsets_file)
    else:
        ids = np.fromfile(ids_file, dtype="<i4")
        ids[:] = 10**6 if damage == "ids out of range" else 1
        ids.tofile(ids_file)
    again = read_corpus(str(corpus), 1, cache_dir=cache)
    assert np.array_equal(again.ids, expected_ids) and np.array_equal(again.offsets, expected_offsets)


def test_an_empty_run_name_is_refused_as_an_empty_sweep_name_is(tmp_path):
    result = d2l("run", "optim", *TINY, "--name", "", "--quiet", "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 2 and "run name '' is not allowed" in result.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("layout", ["glove", "word2vec header", "gzip"])
def test_a_byte_order_mark_does_not_become_part_of_the_first_word(tmp_path, layout):
    """Vectors saved by a Windows editor start with a UTF-8 byte-order mark: it became part of the
    first word ('\\ufeffa', so `a` was "not in the vocabulary"), or hid the header."""
    import gzip

    body = ("3 2\n" if layout == "word2vec header" else "") + "a 1 0\nb 0.9 0.1\nc 0 1\n"
    raw = b"\xef\xbb\xbf" + body.encode()
    path = tmp_path / ("bom.vec.gz" if layout == "gzip" else "bom.vec")
    path.write_bytes(gzip.compress(raw) if layout == "gzip" else raw)
    result = d2l("embed", "similar", "--vectors", str(path), "a", "--json")
    assert result.exit_code == 0, result.output
    assert [word for word, _ in json.loads(result.stdout)["a"]] == ["b", "c"]


def _cache_with_files_for_folders(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "corpus").write_text("a file where the encoded corpora's folder belongs\n")
    (cache / "cooccurrence").write_text("a file where the co-occurrence counts' folder belongs\n")
    return cache


@pytest.mark.parametrize("experiment", ["word2vec", "glove"])
def test_a_cache_whose_folders_are_files_still_runs(tmp_path, monkeypatch, experiment):
    """The cache is an optimisation: the encoded corpus goes to a temporary file instead, and the
    co-occurrence counts are counted without being kept; the files stay as they were."""
    monkeypatch.setenv("D2L_LAB_CACHE", str(_cache_with_files_for_folders(tmp_path)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat sat on the mat w{i % 7}\n" for i in range(60)))
    result = d2l("run", experiment, "--corpus", str(corpus), "--min-count", "1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert all((tmp_path / "cache" / name).is_file() for name in ("cooccurrence", "corpus"))


def test_two_fetches_of_the_same_vectors_at_once_both_succeed(tmp_path, monkeypatch):
    """Both downloads wrote to, then deleted, the one `download.zip.part`: the slower one found its
    archive gone (a traceback) or truncated by the other."""
    import hashlib
    import threading
    import zipfile

    from d2l_lab.datasets import fetch as fetch_module

    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "vectors.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("glove/vec.txt", "a 1 0\nb 0 1\nc 1 1\n")
    remote = fetch_module.RemoteVectors(archive.as_uri(), hashlib.sha1(archive.read_bytes()).hexdigest(), "test")
    monkeypatch.setitem(fetch_module.REMOTES, "glove.6b.50d", remote)
    both_downloading = threading.Barrier(2, timeout=30)
    results: list[object] = []

    def one_finishes_first(*_: object) -> None:  # both have downloaded; one waits while the other finishes
        if both_downloading.wait() == 0:
            time.sleep(0.5)

    def fetch() -> None:
        try:
            results.append(fetch_module.fetch("glove.6b.50d", progress=one_finishes_first))
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    target = tmp_path / "cache" / "vectors" / "glove.6b.50d" / "vec.txt"
    assert results == [target, target]
    assert [p.name for p in target.parent.iterdir()] == ["vec.txt"]
    assert target.read_text() == "a 1 0\nb 0 1\nc 1 1\n"
