"""Whole-process times of the quick commands, against the limits of issue 24, in one invocation.

    python benchmarks/startup.py [--repeats 5] [--words 400000] [--dim 300] [--heavy-repeats 1]

Each row is the wall time of a fresh process, as a shell script pays it: the least of `--repeats`
runs (other jobs on the machine only ever add time), the quick commands taking turns so that a
change in load hits all of them alike. Beside it, the least CPU time (user + system) of the same
runs, which other jobs inflate less. Everything runs from a scratch directory with a scratch cache
(`D2L_LAB_CACHE`), so nothing from an earlier invocation is reused, and with the package
byte-compiled first, as an installed one is:

- `python -c "import torch"`, the floor of any command that trains, and `d2l run optim --algo
  adam --lr 0.01` (limit: that floor + 1.0 s);
- `d2l --help`, `d2l runs list` (of the runs made here) and `d2l embed similar RUN chip` on a
  small word2vec run made first, from a generated corpus (limit: 1.0 s each);
- a generated word2vec text file of `--words` x `--dim` values ('0.123456' or '-0.12345'):
  gensim's `KeyedVectors.load_word2vec_format` on it (the load alone, in its own process), our
  first `d2l embed similar --vectors F chip` on it (the whole process, with parsing it and writing
  its cached copy; limit: 0.5 x gensim's load), each of `--heavy-repeats` with an empty cache,
  and then the next one (limit: 1.5 s).

gensim is a benchmark peer only (`pip install -e '.[bench]'`); without it its row is left out.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
D2L = [sys.executable, "-m", "d2l_lab"]
QUERY = "chip"
GENSIM_LOAD = ("import sys, time\nfrom gensim.models import KeyedVectors\n"
               "wall, cpu = time.perf_counter(), time.process_time()\nKeyedVectors.load_word2vec_format(sys.argv[1])\n"
               "print(time.perf_counter() - wall, time.process_time() - cpu)")


@dataclass
class Timing:
    """The least wall and CPU (user + system) seconds seen, each over all runs."""

    wall: float = float("inf")
    cpu: float = float("inf")

    def add(self, wall: float, cpu: float) -> None:
        self.wall, self.cpu = min(self.wall, wall), min(self.cpu, cpu)


def run_once(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command`, which must succeed."""
    before, started = os.times(), time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall, after = time.perf_counter() - started, os.times()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def in_rounds(commands: list[list[str]], env: dict[str, str], cwd: Path, rounds: int) -> list[Timing]:
    """Each command once per round, in turn, so a change in the machine's load hits all alike."""
    timings = [Timing() for _ in commands]
    for _ in range(rounds):
        for command, timing in zip(commands, timings):
            timing.add(*run_once(command, env, cwd))
    return timings


def write_corpus(path: Path, seed: int = 0) -> None:
    """Sentences over a small vocabulary that holds the query word."""
    rng = np.random.default_rng(seed)
    vocabulary = [QUERY, "memory", "silicon", "wafer", "cat", "dog", "tail", *(f"w{i}" for i in range(200))]
    path.write_text("\n".join(" ".join(rng.choice(vocabulary, size=12)) for _ in range(3000)) + "\n")


def write_vectors(path: Path, words: int, dim: int, seed: int = 0, block: int = 4096) -> None:
    """word2vec text of `words` rows (the query word first), every value 8 characters long."""
    rng = np.random.default_rng(seed)
    names = [QUERY, *(f"w{i}" for i in range(1, words))]
    with open(path, "wb") as f:
        f.write(f"{words} {dim}\n".encode())
        for start in range(0, words, block):
            n = min(block, words - start)
            chars = rng.integers(ord("0"), ord("9") + 1, size=(n, dim, 9), dtype=np.uint8)
            negative = rng.random((n, dim)) < 0.5  # '-0.12345' where positive is '0.123456'
            chars[:, :, 0] = np.where(negative, ord("-"), ord("0"))
            chars[:, :, 1] = np.where(negative, ord("0"), ord("."))
            chars[:, :, 2] = np.where(negative, ord("."), chars[:, :, 2])
            chars[:, :, 8] = ord(" ")
            chars[:, -1, 8] = ord("\n")
            rows = chars.reshape(n, dim * 9)
            f.write(b"".join(names[start + i].encode() + b" " + rows[i].tobytes() for i in range(n)))


def gensim_load(path: Path, env: dict[str, str], repeats: int) -> Timing | None:
    """gensim's `load_word2vec_format` of `path`, timed around the call; None without gensim."""
    check = subprocess.run([sys.executable, "-c", "import gensim"], env=env, capture_output=True, check=False)
    if check.returncode != 0:
        return None
    timing = Timing()
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", GENSIM_LOAD, str(path)], env=env, capture_output=True,
                              text=True, check=True)
        timing.add(*map(float, done.stdout.split()[-2:]))
    return timing


@dataclass
class Row:
    what: str
    timing: Timing
    limit: float | None = None
    rule: str = ""
    """What the limit is, in words."""
    measured: str = ""
    """The seconds in the limit's terms, where it is relative."""


def machine() -> str:
    info = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
              if line.startswith("model name")] if info.is_file() else []
    return f"{os.cpu_count()} cores{', ' + models[0] if models else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each quick command (the least counts)")
    parser.add_argument("--heavy-repeats", type=int, default=1, help="runs of each first load and of gensim's load")
    parser.add_argument("--words", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=300)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="d2l-startup-"))
    try:
        rows = measure(scratch, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"benchmarks/startup.py, {datetime.date.today()}, {machine()}, load average {os.getloadavg()[0]:.1f} "
          f"at the end, Python {platform.python_version()}, torch {version('torch')}; least of {args.repeats} "
          f"runs ({args.heavy_repeats} for first loads and gensim's)")
    print(f"| {'command':<46} | {'seconds':>7} | {'cpu s':>7} | {'limit':>7} | {'rule':<20} | {'measured':<22} "
          "| holds |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 22}|{'-' * 24}|-------|")
    for row in rows:
        seconds = row.timing.wall
        holds, limit = ("yes" if seconds <= row.limit else "NO", f"{row.limit:7.2f}") if row.limit else ("", "")
        print(f"| {row.what:<46} | {seconds:7.2f} | {row.timing.cpu:7.2f} | {limit:>7} | {row.rule:<20} | "
              f"{row.measured:<22} | {holds:>5} |")


def measure(scratch: Path, args: argparse.Namespace) -> list[Row]:
    cache = scratch / "cache"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "D2L_LAB_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "d2l_lab")], check=True)
    out = ["--out", str(scratch / "outputs")]
    write_corpus(scratch / "corpus.txt")
    run_once([*D2L, "run", "word2vec", "--corpus", str(scratch / "corpus.txt"), "--epochs", "1", "--min-count", "1",
              "--dim", "16", "--device", "cpu", "--quiet", *out], env, scratch)
    (run,) = (scratch / "outputs" / "word2vec").iterdir()
    quick = {"python -c 'import torch'": [sys.executable, "-c", "import torch"],
             "d2l run optim --algo adam --lr 0.01": [*D2L, "run", "optim", "--algo", "adam", "--lr", "0.01", *out],
             "d2l --help": [*D2L, "--help"],
             "d2l runs list": [*D2L, "runs", "list", *out],
             f"d2l embed similar RUN {QUERY}": [*D2L, "embed", "similar", str(run), QUERY]}
    torch_t, optim_t, *others = in_rounds(list(quick.values()), env, scratch, args.repeats)
    rows = [Row("python -c 'import torch'", torch_t),
            Row("d2l run optim --algo adam --lr 0.01", optim_t, torch_t.wall + 1.0, "import torch + 1.0 s",
                f"import torch + {optim_t.wall - torch_t.wall:.2f} s"),
            *(Row(what, timing, 1.0, "1.0 s") for what, timing in zip(list(quick)[2:], others))]

    vectors = scratch / "vectors.txt"
    write_vectors(vectors, args.words, args.dim)
    gensim_t = gensim_load(vectors, env, args.heavy_repeats)
    similar = [*D2L, "embed", "similar", "--vectors", str(vectors), QUERY]
    first_t, next_t = Timing(), Timing()
    for _ in range(args.heavy_repeats):
        shutil.rmtree(cache, ignore_errors=True)
        first_t.add(*run_once(similar, env, scratch))
    for _ in range(args.repeats):
        next_t.add(*run_once(similar, env, scratch))
    first = f"d2l embed similar --vectors F {QUERY}: first"
    if gensim_t is not None:
        rows += [Row(f"gensim load_word2vec_format F ({args.words:,} x {args.dim})", gensim_t),
                 Row(first, first_t, gensim_t.wall / 2, "0.5 x gensim's load",
                     f"{first_t.wall / gensim_t.wall:.2f} x gensim's load")]
    else:
        rows.append(Row(first, first_t, measured="(no gensim to compare)"))
    return [*rows, Row(f"d2l embed similar --vectors F {QUERY}: next", next_t, 1.5, "1.5 s")]


if __name__ == "__main__":
    main()
