"""Whole-process times of the quick commands, against the limits of issue 24, in one invocation.

    python benchmarks/startup.py [--repeats 5] [--words 400000] [--dim 300] [--heavy-repeats 1]

Each row is the wall time of a fresh process, as a shell script pays it (the least of `--repeats`
runs: other jobs on the machine only ever add time), run from a scratch directory with a scratch
cache (`D2L_LAB_CACHE`), so nothing from an earlier invocation is reused, and with the package
byte-compiled first, as an installed one is:

- `python -c "import torch"`, the floor of any command that trains, and `d2l run optim --algo
  adam --lr 0.01` (limit: that floor + 1.0 s);
- `d2l --help`, `d2l runs list` (of the runs made here) and `d2l embed similar RUN chip` on a
  small word2vec run made first, from a generated corpus (limit: 1.0 s each);
- a generated word2vec text file of `--words` x `--dim` values ('0.123456' or '-0.12345'):
  gensim's `KeyedVectors.load_word2vec_format` on it (the load alone, in its own process), our
  first `d2l embed similar --vectors F chip` on it (the whole process, with parsing it and writing
  its cached copy; limit: 0.5 x gensim's load) and then the next one (limit: 1.5 s). These two
  take `--heavy-repeats` runs, each first load with an empty cache.

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
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
D2L = [sys.executable, "-m", "d2l_lab"]
QUERY = "chip"
GENSIM_LOAD = ("import sys, time\nfrom gensim.models import KeyedVectors\nstarted = time.perf_counter()\n"
               "KeyedVectors.load_word2vec_format(sys.argv[1])\nprint(time.perf_counter() - started)")


def timed(command: list[str], env: dict[str, str], cwd: Path, repeats: int,
          before: Callable[[], None] = lambda: None) -> float:
    """The least wall time of `repeats` runs of `command` (each must succeed), `before` each."""
    best = float("inf")
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return best


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


def gensim_load(path: Path, env: dict[str, str], repeats: int) -> float | None:
    """gensim's `load_word2vec_format` of `path`, the least of `repeats` loads; None without gensim."""
    check = subprocess.run([sys.executable, "-c", "import gensim"], env=env, capture_output=True, check=False)
    if check.returncode != 0:
        return None
    times = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", GENSIM_LOAD, str(path)], env=env, capture_output=True,
                              text=True, check=True)
        times.append(float(done.stdout.split()[-1]))
    return min(times)


@dataclass
class Row:
    what: str
    seconds: float
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
    print(f"| {'command':<44} | {'seconds':>7} | {'limit':>7} | {'rule':<21} | {'measured':<22} | holds |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 9}|{'-' * 23}|{'-' * 24}|-------|")
    for row in rows:
        holds, limit = ("yes" if row.seconds <= row.limit else "NO", f"{row.limit:7.2f}") if row.limit else ("", "")
        print(f"| {row.what:<44} | {row.seconds:7.2f} | {limit:>7} | {row.rule:<21} | {row.measured:<22} | "
              f"{holds:>5} |")


def measure(scratch: Path, args: argparse.Namespace) -> list[Row]:
    cache = scratch / "cache"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "D2L_LAB_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "d2l_lab")], check=True)
    out = ["--out", str(scratch / "outputs")]

    def d2l(*command: str, repeats: int = args.repeats, before: Callable[[], None] = lambda: None) -> float:
        return timed([*D2L, *command], env, scratch, repeats, before)

    torch_s = timed([sys.executable, "-c", "import torch"], env, scratch, args.repeats)
    optim_s = d2l("run", "optim", "--algo", "adam", "--lr", "0.01", *out)
    write_corpus(scratch / "corpus.txt")
    d2l("run", "word2vec", "--corpus", str(scratch / "corpus.txt"), "--epochs", "1", "--min-count", "1",
        "--dim", "16", "--device", "cpu", "--quiet", *out, repeats=1)
    (run,) = (scratch / "outputs" / "word2vec").iterdir()
    rows = [Row("python -c 'import torch'", torch_s),
            Row("d2l run optim --algo adam --lr 0.01", optim_s, torch_s + 1.0, "import torch + 1.0 s",
                f"import torch + {optim_s - torch_s:.2f} s"),
            Row("d2l --help", d2l("--help"), 1.0, "1.0 s"),
            Row("d2l runs list", d2l("runs", "list", *out), 1.0, "1.0 s"),
            Row(f"d2l embed similar RUN {QUERY}", d2l("embed", "similar", str(run), QUERY), 1.0, "1.0 s")]

    vectors = scratch / "vectors.txt"
    write_vectors(vectors, args.words, args.dim)
    gensim_s = gensim_load(vectors, env, args.heavy_repeats)
    similar = ("embed", "similar", "--vectors", str(vectors), QUERY)
    first_s = d2l(*similar, repeats=args.heavy_repeats, before=lambda: shutil.rmtree(cache, ignore_errors=True))
    second_s = d2l(*similar)
    if gensim_s is not None:
        rows += [Row(f"gensim load_word2vec_format F ({args.words:,} x {args.dim})", gensim_s),
                 Row(f"d2l embed similar --vectors F {QUERY}: first", first_s, gensim_s / 2, "0.5 x gensim's load",
                     f"{first_s / gensim_s:.2f} x gensim's load")]
    else:
        rows.append(Row(f"d2l embed similar --vectors F {QUERY}: first", first_s, measured="(no gensim to compare)"))
    return [*rows, Row(f"d2l embed similar --vectors F {QUERY}: next", second_s, 1.5, "1.5 s")]


if __name__ == "__main__":
    main()
