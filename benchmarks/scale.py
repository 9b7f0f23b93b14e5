"""Peak memory and speed as the corpus grows: ours (word2vec, fastText, GloVe) against gensim.

    pip install -e '.[bench]'      # gensim: a benchmark peer only, never a runtime dependency
    python benchmarks/scale.py [--sizes 1 4 10 10s] [--epochs 1] [--systems ...] [--workers N]

Builds PTB xN (the bundled train split written N times, `ptbN.txt.gz`) in --work; a size ending
in s (`10s`) is PTB's tokens N times, each copy's tokens in a random order (seeded by the copy's
number) cut into lines of PTB's lengths, which has about N times PTB's distinct co-occurring
pairs where plain copies add none (GloVe's memory grew with those). Then for each size it runs every system as its own child process, one after another: ours as a user would
(`python -m d2l_lab run MODEL --corpus ptbN.txt.gz --epochs 1 --device cpu`, default config,
with an empty cache, so reading, counting and encoding the corpus are included), gensim's
`Word2Vec` and `FastText` on their defaults for the same model (skip-gram, dim 100, window 5,
5 noise words, min count 5; `LineSentence` over the same file). Peak RSS is the child's
`ru_maxrss` as the OS reports it (`os.wait4`): the whole process, Python and torch included.
words/s is raw corpus tokens per second of training alone (ours: the run's metrics.csv; gensim:
its `train` call); wall s is the whole child process. The last lines give ours / gensim per
size for the two models both have, and each system's peak at the largest size over the smallest.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

OURS = ("word2vec", "fasttext", "glove")
GENSIM = ("gensim-word2vec", "gensim-fasttext")
PEERS = {"word2vec": "gensim-word2vec", "fasttext": "gensim-fasttext"}


def build_corpus(path: Path, copies: int, fraction: float, shuffled: bool = False) -> int:
    """PTB's train split (its first `fraction` of lines) `copies` times, each copy's tokens
    shuffled if `shuffled`; returns its tokens."""
    import numpy as np

    from d2l_lab.datasets import bundled

    lines = bundled.read_text("ptb.train").splitlines(keepends=True)
    lines = lines[:max(1, round(len(lines) * fraction))]
    text = "".join(lines)
    tokens = np.array(text.split(), dtype=object)
    ends = np.cumsum([len(line.split()) for line in lines])[:-1]
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for copy in range(copies):
            if shuffled:
                order = np.random.default_rng([20251207, copy]).permutation(tokens.size)
                text = "".join(" ".join(line) + "\n" for line in np.split(tokens[order], ends))
            f.write(text)
    return tokens.size * copies


def _size(text: str) -> str:
    """`--sizes` items: N or Ns, N >= 1."""
    if not (text.rstrip("s").isdigit() and int(text.rstrip("s")) >= 1 and text.count("s") <= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of copies, N or Ns (shuffled), N >= 1")
    return text


def gensim_worker(system: str, corpus: str, epochs: int, workers: int) -> dict[str, Any]:
    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    model_class = Word2Vec if system == "gensim-word2vec" else FastText
    model = model_class(sg=1, vector_size=100, window=5, negative=5, min_count=5, workers=workers, epochs=epochs)
    sentences = LineSentence(corpus)
    model.build_vocab(sentences)
    started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - started
    return {"words_per_s": model.corpus_total_words * epochs / seconds}


def child(command: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """Run `command`; (stdout, wall seconds, peak RSS in KiB) from os.wait4, or exit on failure."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        if process.returncode:
            sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{err.read()}")
        return out.read(), wall, usage.ru_maxrss  # KiB on Linux


def run_system(system: str, corpus: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "D2L_LAB_CACHE": str(tempfile.mkdtemp(prefix="cache-", dir=work))}
    if system in OURS:
        command = [sys.executable, "-m", "d2l_lab", "run", system, "--corpus", str(corpus), "--epochs",
                   str(args.epochs), "--device", "cpu", "--quiet", "--json", "--out", str(work / "runs")]
        stdout, wall, peak = child(command, env)
        from d2l_lab.runs.metrics import read_metrics

        run_dir = Path(json.loads(stdout.strip().splitlines()[-1])["run_dir"])
        speeds = [float(r["words_per_s"]) for r in read_metrics(run_dir / "metrics.csv") if r["words_per_s"]]
        words_per_s = sum(speeds) / len(speeds)
    else:
        command = [sys.executable, __file__, "--worker", system, "--corpus", str(corpus), "--epochs",
                   str(args.epochs), "--workers", str(args.workers)]
        stdout, wall, peak = child(command, env)
        words_per_s = json.loads(stdout.strip().splitlines()[-1])["words_per_s"]
    return {"peak_mb": peak / 1024, "words_per_s": words_per_s, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1", "4", "10"], type=_size,
                        help="copies of PTB, N or Ns for shuffled copies (default: 1 4 10)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of every system (default: 1)")
    parser.add_argument("--systems", nargs="+", choices=OURS + GENSIM, default=list(OURS + GENSIM),
                        help="what to run (default: all)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="gensim worker threads (default: the cores available)")
    parser.add_argument("--fraction", type=float, default=1.0, help="use the first FRACTION of PTB's lines "
                        "(default: 1; the tests use a sliver)")
    parser.add_argument("--work", type=Path, default=None, help="where corpora and runs go (default: a temp dir)")
    parser.add_argument("--worker", choices=GENSIM, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(gensim_worker(args.worker, args.corpus, args.epochs, args.workers)))
        return
    if any(s in GENSIM for s in args.systems):
        try:
            import gensim  # noqa: F401  (only to fail early with a clear message)
        except ImportError:
            sys.exit("gensim is not installed: pip install -e '.[bench]' (or leave it out with --systems)")
    work = args.work or Path(tempfile.mkdtemp(prefix="d2l-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    print(f"PTB xN, {args.epochs} epoch(s), default configs; gensim {args.workers} workers; peak RSS of each "
          f"whole child process (os.wait4); work dir {work}")
    print(f"{'size':<6}{'tokens':>11}  {'system':<17}{'peak MB':>9}{'words/s':>11}{'wall s':>8}", flush=True)
    for size in args.sizes:
        corpus = work / f"ptb{size}.txt.gz"
        tokens = build_corpus(corpus, int(size.rstrip("s")), args.fraction, shuffled=size.endswith("s"))
        results[size] = {}
        for system in args.systems:
            r = results[size][system] = run_system(system, corpus, work, args)
            print(f"x{size:<5}{tokens:>11,}  {system:<17}{r['peak_mb']:>9.0f}{r['words_per_s']:>11,.0f}"
                  f"{r['wall']:>8.1f}", flush=True)
    for size, row in results.items():
        ratios = [f"{ours} peak {row[ours]['peak_mb'] / row[peer]['peak_mb']:.2f}, words/s "
                  f"{row[ours]['words_per_s'] / row[peer]['words_per_s']:.2f}"
                  for ours, peer in PEERS.items() if ours in row and peer in row]
        if ratios:
            print(f"ours / gensim at x{size}: " + "; ".join(ratios))
    smallest, largest = args.sizes[0], args.sizes[-1]
    if largest != smallest:
        print(f"peak at x{largest} / x{smallest}: " + ", ".join(
            f"{system} {results[largest][system]['peak_mb'] / results[smallest][system]['peak_mb']:.2f}"
            for system in args.systems))


if __name__ == "__main__":
    main()
