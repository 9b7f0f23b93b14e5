"""Our word2vec (default preset) against gensim's on PTB: speed, quality, time to rho 0.40.

    pip install -e '.[bench]'      # gensim: a benchmark peer only, never a runtime dependency
    python benchmarks/word2vec_vs_gensim.py [--seeds 0 1 2] [--gensim-epochs 20] [--threads N]

Each system trains in its own subprocess (so neither inherits the other's threads, caches or
memory) on the same bundled PTB sentences, with the same model: skip-gram, dim 100, window 5,
5 noise words, t = 1e-4, min count 5. gensim uses 2 worker threads... or --threads; ours uses
torch with as many threads. Both train epoch by epoch and are evaluated (WordSim-353 rho,
input vectors, out-of-vocabulary pairs skipped) after every epoch, outside the timed part:
gensim through `train(epochs=1)` with the linear alpha decay split across epochs exactly as
one `train(epochs=E)` call would do it. Time counts vocabulary building plus training.
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

TARGET_RHO = 0.40


def _evaluate_final(words: list[str], matrix: Any) -> dict[str, Any]:
    from d2l_lab.embeddings.standard_eval import evaluate_standard
    from d2l_lab.embeddings.vectors import WordVectors

    result = evaluate_standard(WordVectors(words, matrix))
    return {"ws353": result["wordsim353"]["rho"], "simlex": result["simlex999"]["rho"],
            "analogy": result["google_analogy"]["accuracy"]}


def _ws353(words: list[str], matrix: Any) -> float:
    from d2l_lab.datasets.evalsets import load_wordsim353
    from d2l_lab.embeddings.evaluation import evaluate_similarity
    from d2l_lab.embeddings.vectors import WordVectors

    return evaluate_similarity(WordVectors(words, matrix), load_wordsim353())["rho"]


def run_ours(seed: int, threads: int, epochs: int | None) -> dict[str, Any]:
    import dataclasses

    import torch
    import yaml

    from d2l_lab.config.schema import from_dict
    from d2l_lab.datasets.corpus import read_ptb
    from d2l_lab.embeddings.word2vec import Word2VecTrainer
    from d2l_lab.embeddings.word2vec_config import Word2VecConfig

    preset = Path(__file__).resolve().parents[1] / "configs" / "word2vec" / "default.yaml"
    cfg = dataclasses.replace(from_dict(Word2VecConfig, yaml.safe_load(preset.read_text())), threads=threads)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    sentences = read_ptb()
    started = time.perf_counter()
    trainer = Word2VecTrainer.from_sentences(sentences, cfg, seed, torch.device("cpu"))
    elapsed = time.perf_counter() - started
    curve = []
    for epoch in range(cfg.epochs):
        started = time.perf_counter()
        trainer.train_epoch(epoch)
        elapsed += time.perf_counter() - started
        curve.append((elapsed, _ws353(trainer.vocab.words, trainer.input_vectors())))
    raw_words = trainer.vocab.total_tokens * cfg.epochs
    return {"curve": curve, "raw_words": raw_words,
            **_evaluate_final(trainer.vocab.words, trainer.input_vectors())}


def run_gensim(seed: int, threads: int, epochs: int) -> dict[str, Any]:
    from gensim.models import Word2Vec

    from d2l_lab.datasets.corpus import read_ptb

    sentences = read_ptb()
    started = time.perf_counter()
    model = Word2Vec(sg=1, vector_size=100, window=5, negative=5, sample=1e-4, min_count=5,
                     workers=threads, epochs=epochs, seed=seed)
    model.build_vocab(sentences)
    elapsed = time.perf_counter() - started
    alpha, min_alpha = model.alpha, model.min_alpha
    curve = []
    for epoch in range(epochs):
        start_alpha = alpha - (alpha - min_alpha) * epoch / epochs
        end_alpha = alpha - (alpha - min_alpha) * (epoch + 1) / epochs
        started = time.perf_counter()
        model.train(sentences, total_examples=model.corpus_count, epochs=1,
                    start_alpha=start_alpha, end_alpha=end_alpha)
        elapsed += time.perf_counter() - started
        curve.append((elapsed, _ws353(model.wv.index_to_key, model.wv.vectors)))
    raw_words = sum(len(s) for s in sentences) * epochs
    return {"curve": curve, "raw_words": raw_words,
            **_evaluate_final(model.wv.index_to_key, model.wv.vectors)}


def worker(args: argparse.Namespace) -> None:
    if args.worker == "ours":
        result = run_ours(args.seed, args.threads, args.epochs)
    else:
        result = run_gensim(args.seed, args.threads, args.epochs)
    print(json.dumps(result))


def spawn(system: str, seed: int, threads: int, epochs: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", system, "--seed", str(seed), "--threads", str(threads)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{system} (seed {seed}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    seconds = result["curve"][-1][0]
    reached = next(((t, e + 1) for e, (t, rho) in enumerate(result["curve"]) if rho >= TARGET_RHO), None)
    return {"seconds": seconds, "epochs": len(result["curve"]), "words_per_s": result["raw_words"] / seconds,
            "ws353": result["ws353"], "simlex": result["simlex"], "analogy": result["analogy"],
            "to_target": reached[0] if reached else None,
            "epochs_to_target": reached[1] if reached else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gensim-epochs", type=int, default=20,
                        help="gensim needs about 20 epochs on PTB to reach rho 0.40")
    parser.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="gensim workers and torch threads (default: the cores available)")
    parser.add_argument("--worker", choices=("ours", "gensim"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    try:
        import gensim  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        sys.exit("gensim is not installed: pip install -e '.[bench]'")

    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "gensim": []}
    for seed in args.seeds:  # alternate systems so that drifting machine load hits both alike
        rows["ours"].append(summarise(spawn("ours", seed, args.threads, None)))
        rows["gensim"].append(summarise(spawn("gensim", seed, args.threads, args.gensim_epochs)))
    print(f"PTB train, skip-gram, dim 100, window 5, K 5, t 1e-4, min count 5; {args.threads} threads; "
          f"seeds {' '.join(map(str, args.seeds))}")
    header = f"{'':8}{'epochs':>7}{'wall s':>8}{'words/s':>10}{'WS353':>7}{'SimLex':>8}{'analogy':>8}{'to 0.40':>9}"
    print(header)
    for system, results in rows.items():
        for seed, r in zip(args.seeds, results):
            target = f"{r['to_target']:.1f}s/{r['epochs_to_target']}" if r["to_target"] else "never"
            print(f"{system:<6}{seed:>2}{r['epochs']:>7}{r['seconds']:>8.1f}{r['words_per_s']:>10,.0f}"
                  f"{r['ws353']:>7.3f}{r['simlex']:>8.3f}{r['analogy']:>8.3f}{target:>9}")
    ours, peer = ({key: statistics.median(r[key] for r in rows[s]) for key in ("seconds", "words_per_s", "ws353", "simlex", "analogy")}
                  for s in ("ours", "gensim"))
    print("median ratio ours/gensim: " + ", ".join(
        f"{key} {ours[key] / peer[key]:.2f}" for key in ("seconds", "words_per_s", "ws353", "simlex", "analogy")))
    reach = {s: [r["to_target"] for r in rows[s]] for s in rows}
    if all(t is not None for t in reach["ours"] + reach["gensim"]):
        print(f"time to rho {TARGET_RHO}: ours {statistics.median(reach['ours']):.1f}s, "
              f"gensim {statistics.median(reach['gensim']):.1f}s (medians)")
    else:
        print(f"time to rho {TARGET_RHO}: " + "; ".join(
            f"{s} " + " ".join("never" if t is None else f"{t:.1f}s" for t in reach[s]) for s in reach))


if __name__ == "__main__":
    main()
