"""Words per second of our word2vec (or GloVe) on PTB with 1 and N worker processes, idle and with busy cores.

    python benchmarks/word2vec_scaling.py [--workers 1 2] [--busy 0 1] [--repeats 3] [--epochs 2]
                                          [--model skipgram|cbow|glove] [--loss ns|hs]

Every measurement is a separate process training the default config (skip-gram; seed 0) for
`--epochs` epochs with `word2vec.workers` (`glove.workers`) set; words/s is raw PTB tokens per
second of `train_epoch` (drawing each chunk's examples included, evaluation, setup and GloVe's
counting excluded), as `metrics.csv` reports it for word2vec. For each `--busy B` the benchmark starts B spinning Python processes
before the measurement and kills them after, to stand for another user's job on the machine.
The conditions run interleaved, repeat after repeat, so that drifting load from elsewhere
hits all of them alike; the table shows the median and the range, and the ratios of medians
against 1 worker on the same load. On a machine others use, idle is only as idle as they leave it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

SPIN = "while True: pass"


def measure(workers: int, epochs: int, seed: int, model: str, loss: str) -> dict[str, Any]:
    """Train `epochs` epochs in this process; words/s per epoch and the final WS353 rho."""
    import torch

    from d2l_lab.config.loading import compose
    from d2l_lab.datasets.evalsets import load_wordsim353
    from d2l_lab.embeddings.evaluation import evaluate_similarity
    from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
    from d2l_lab.experiments.embedding_task import read_corpus
    from d2l_lab.experiments.word2vec import Word2VecRunConfig

    if model == "glove":
        from d2l_lab.embeddings.glove.trainer import GloveTrainer
        from d2l_lab.experiments.glove import GloveRunConfig

        glove = compose(GloveRunConfig, "glove", flags={"glove.workers": workers, "glove.epochs": epochs}).glove
        corpus = read_corpus(None, glove.min_count)
        trainer = GloveTrainer(corpus.cooccurrence_entries(glove.window), corpus.vocab.words, glove, seed,
                               torch.device("cpu"))
    else:
        flags = {"word2vec.workers": workers, "word2vec.epochs": epochs, "word2vec.model": model, "word2vec.loss": loss}
        cfg = compose(Word2VecRunConfig, "word2vec", flags=flags).word2vec
        corpus = read_corpus(None, cfg.min_count)
        trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, seed, torch.device("cpu"))
    seconds = [trainer.train_epoch(epoch)["seconds"] for epoch in range(epochs)]
    rho = evaluate_similarity(trainer.word_vectors(), load_wordsim353())["rho"]
    return {"words_per_s": corpus.vocab.total_tokens * epochs / sum(seconds), "rho": rho}


def spawn(workers: int, busy: int, args: argparse.Namespace) -> dict[str, Any]:
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        command = [sys.executable, __file__, "--measure", str(workers), "--epochs", str(args.epochs),
                   "--seed", str(args.seed), "--model", args.model, "--loss", args.loss]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    if done.returncode:
        sys.exit(f"workers {workers}, busy {busy} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1], help="spinning processes started alongside")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("skipgram", "cbow", "glove"), default="skipgram")
    parser.add_argument("--loss", choices=("ns", "hs"), default="ns")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.epochs, args.seed, args.model, args.loss)))
        return

    conditions = [(busy, workers) for busy in args.busy for workers in args.workers]
    results: dict[tuple[int, int], list[dict[str, Any]]] = {c: [] for c in conditions}
    started = time.perf_counter()
    for _ in range(args.repeats):
        for busy, workers in conditions:
            results[busy, workers].append(spawn(workers, busy, args))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"PTB {args.model} ({args.loss}), default config, {args.epochs} epochs per measurement, {args.repeats} repeats "
          f"interleaved, {len(os.sched_getaffinity(0))} cores; {time.perf_counter() - started:.0f} s, "
          f"load average at the end {load:.2f}")
    print(f"{'busy':>4}{'workers':>8}{'median words/s':>16}{'min':>11}{'max':>11}{'x 1 worker':>11}{'WS353':>7}")
    for busy, workers in conditions:
        speeds = [r["words_per_s"] for r in results[busy, workers]]
        base = statistics.median(r["words_per_s"] for r in results.get((busy, 1), results[busy, workers]))
        rho = statistics.mean(r["rho"] for r in results[busy, workers])
        print(f"{busy:>4}{workers:>8}{statistics.median(speeds):>16,.0f}{min(speeds):>11,.0f}{max(speeds):>11,.0f}"
              f"{statistics.median(speeds) / base:>11.2f}{rho:>7.3f}")


if __name__ == "__main__":
    main()
