"""Peak memory of reading a corpus that is one line (text8) against the same tokens in lines.

    python benchmarks/one_line_corpus.py [--mb 300] [--block BYTES] [--work DIR]

Generates a corpus of about --mb megabytes (Zipf-distributed words over a 70k vocabulary, text8's
shape) twice: as one line with no newline at all, and with a newline after every 1,000 words.
Each is then read as a run reads it (`embedding_task.read_corpus`'s steps: the checksum pass, the counting
pass, the encoding pass into the corpus cache, and the cached ids memory-mapped and checked) in a
child process of its own, with an empty cache. Peak RSS is that child's `ru_maxrss` as the OS
reports it (`os.wait4`), so the interpreter, NumPy and the mapped ids are in both. The table gives
both peaks, their ratio (one line / lines) and each above the child's peak when it only imports
what it runs. `--block` is the read block (default: the reader's own).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

WORDS_PER_LINE = 1000
VOCAB = 70_000


def build_corpora(work: Path, megabytes: float, seed: int = 0) -> tuple[Path, Path, int]:
    """(one-line file, lines file, tokens): the same tokens, separated by spaces or, after every
    WORDS_PER_LINE-th word, by a newline; written 1M tokens at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("a"), ord("z") + 1, size=(VOCAB, 11), dtype=np.uint8)
    words = np.array([row[:n].tobytes().decode() for row, n in zip(letters, rng.integers(2, 12, size=VOCAB))])
    p = 1 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    one_line, lines = work / "one_line.txt", work / "lines.txt"
    target, written, tokens = int(megabytes * 1e6), 0, 0
    with open(one_line, "w", encoding="ascii") as a, open(lines, "w", encoding="ascii") as b:
        while written < target:
            block = words[rng.choice(VOCAB, size=200_000, p=p)].tolist()
            text = " ".join(block) + " "
            a.write(text)
            b.writelines(" ".join(block[start:start + WORDS_PER_LINE]) + "\n"
                         for start in range(0, len(block), WORDS_PER_LINE))
            written += len(text)
            tokens += len(block)
    return one_line, lines, tokens


def worker(corpus: str | None, block: int | None) -> dict[str, int]:
    """Read `corpus` as `embedding_task.read_corpus` does, without importing torch, which would
    dwarf the reading (nothing when None: the imports' own peak)."""
    import functools

    from d2l_lab.datasets import corpus as datasets
    from d2l_lab.embeddings.encoded_corpus import cached_ids, cached_vocab

    if corpus is None:
        return {}
    read = datasets.snapshot(corpus)
    lines = functools.partial(datasets.corpus_lines, corpus, expected=read.stamps,
                              **({} if block is None else {"block_size": block}))
    vocab = cached_vocab(lines, read.checksum, 5)
    ids, offsets = cached_ids(lines, read.checksum, vocab)
    return {"tokens": vocab.total_tokens, "sentences": int(offsets.size - 1), "ids": int(ids.size)}


def child(args: list[str], cache: Path) -> tuple[dict[str, int], float]:
    """(the worker's answer, its peak RSS in MB from os.wait4)."""
    env = {**os.environ, "D2L_LAB_CACHE": str(cache)}
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen([sys.executable, __file__, "--worker", *args], stdout=out, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode:
            sys.exit(f"worker {args} failed ({process.returncode})")
        out.seek(0)
        return json.loads(out.read().strip().splitlines()[-1]), usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300, help="corpus size in MB (default: 300)")
    parser.add_argument("--block", type=int, default=None, help="read block in bytes (default: the reader's)")
    parser.add_argument("--work", type=Path, default=None, help="where corpora and caches go (default: a temp dir)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.corpus, args.block)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="d2l-one-line-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.build:
        print(json.dumps(build_corpora(work, args.mb)[2]))
        return
    # Built in a child: a child's peak RSS (ru_maxrss) starts at its parent's size when it forks.
    tokens = int(subprocess.run([sys.executable, __file__, "--build", "--mb", str(args.mb), "--work", str(work)],
                                check=True, capture_output=True, text=True).stdout)
    one_line, lines = work / "one_line.txt", work / "lines.txt"
    block = [] if args.block is None else ["--block", str(args.block)]
    _, base = child(block, work / "cache-none")
    peaks = {}
    print(f"{tokens:,} tokens, {one_line.stat().st_size / 1e6:.0f} MB; peak RSS of each child (os.wait4); "
          f"imports alone {base:.0f} MB; work dir {work}")
    print(f"{'corpus':<26}{'peak MB':>9}{'above imports':>15}{'sentences':>11}", flush=True)
    for name, path in (("one line", one_line), (f"a line per {WORDS_PER_LINE} words", lines)):
        answer, peaks[name] = child(["--corpus", str(path), *block], work / f"cache-{path.stem}")
        assert answer["tokens"] == tokens, (answer, tokens)
        print(f"{name:<26}{peaks[name]:>9.0f}{peaks[name] - base:>15.0f}{answer['sentences']:>11,}", flush=True)
    first, second = peaks.values()
    print(f"one line / lines: {first / second:.3f} (above imports: {(first - base) / (second - base):.3f})")


if __name__ == "__main__":
    main()
