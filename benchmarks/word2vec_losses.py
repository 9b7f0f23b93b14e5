"""The book's argument, measured: word2vec's losses on PTB, one invocation, same model and corpus.

    python benchmarks/word2vec_losses.py [--model skipgram cbow] [--losses ns hs softmax]
                                         [--seeds 0] [--epochs N] [--limit-batches N]

Section 15.1 defines skip-gram and CBOW with a softmax over the whole vocabulary; section 15.2
exists because that costs V dot products per prediction, and offers negative sampling (K + 1)
and hierarchical softmax (~log2 V). Here each (model, loss) trains its default config (the
loss's own subsampling, learning rate and epochs: `embeddings/word2vec/objectives.py`, or
`--epochs`) on the bundled PTB with one torch thread, each in its own subprocess, one after the
other; the table gives seconds per epoch (training alone, as `metrics.csv` counts it), the time
per epoch against negative sampling's, and WordSim-353, SimLex-999 and Google analogies of the
final vectors (mean over `--seeds`). `--limit-batches N` times only the first N batches of an
epoch and extrapolates (no quality columns): how a smoke test keeps the full softmax short.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled


def measure(model: str, loss: str, seed: int, epochs: int | None, limit_batches: int | None) -> dict[str, Any]:
    """Train in this process; seconds per epoch, and the final evaluation unless timing a few batches."""
    import torch

    from d2l_lab.config.loading import compose
    from d2l_lab.embeddings.standard_eval import evaluate_standard
    from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
    from d2l_lab.experiments.embedding_task import read_corpus
    from d2l_lab.experiments.word2vec import Word2VecRunConfig

    flags: dict[str, Any] = {"word2vec.model": model, "word2vec.loss": loss}
    if epochs is not None:
        flags["word2vec.epochs"] = epochs
    cfg = compose(Word2VecRunConfig, "word2vec", flags=flags).word2vec
    corpus = read_corpus(None, cfg.min_count)
    trainer = Word2VecTrainer(corpus.ids, corpus.offsets, corpus.vocab, cfg, seed, torch.device("cpu"))
    if limit_batches is not None:
        chunk = trainer.draw_chunk(0, 0)
        batches = min(limit_batches, chunk.batches)
        started = time.perf_counter()
        for b in range(batches):
            trainer.step(chunk, b, cfg.lr)
        return {"epochs": cfg.epochs, "seconds_per_epoch": (time.perf_counter() - started) / batches * chunk.batches}
    seconds = [trainer.train_epoch(epoch)["seconds"] for epoch in range(cfg.epochs)]
    result = evaluate_standard(trainer.word_vectors())
    return {"epochs": cfg.epochs, "seconds_per_epoch": statistics.mean(seconds),
            "ws353": result["wordsim353"]["rho"], "simlex": result["simlex999"]["rho"],
            "analogy": result["google_analogy"]["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["skipgram", "cbow"], choices=["skipgram", "cbow"])
    parser.add_argument("--losses", nargs="+", default=["ns", "hs", "softmax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="instead of each loss's default")
    parser.add_argument("--limit-batches", type=int, default=None)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a subprocess: model,loss,seed
    args = parser.parse_args()
    if args.measure:
        model, loss, seed = args.measure.split(",")
        print(json.dumps(measure(model, loss, int(seed), args.epochs, args.limit_batches)))
        return
    print("model     loss     epochs  s/epoch  x ns    WS353   SimLex  analogies")
    for model in args.model:
        baseline = None
        for loss in args.losses:
            runs = [_measure_in_subprocess(model, loss, seed, args) for seed in args.seeds]
            per_epoch = statistics.mean(r["seconds_per_epoch"] for r in runs)
            baseline = baseline or per_epoch
            quality = ("   ".join(f"{statistics.mean(r[k] for r in runs):.3f}" for k in ("ws353", "simlex", "analogy"))
                       if "ws353" in runs[0] else "-       -       -")
            print(f"{model:9} {loss:8} {runs[0]['epochs']:6d} {per_epoch:8.2f} {per_epoch / baseline:6.1f}  {quality}",
                  flush=True)


def _measure_in_subprocess(model: str, loss: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", f"{model},{loss},{seed}"]
    for flag, value in (("--epochs", args.epochs), ("--limit-batches", args.limit_batches)):
        if value is not None:
            command += [flag, str(value)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


if __name__ == "__main__":
    main()
