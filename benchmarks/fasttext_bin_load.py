"""Loading a Facebook fastText `.bin` model: ours (`d2l embed --vectors model.bin`) against gensim's
`load_facebook_vectors`, on one generated model.

    pip install -e '.[bench]'      # gensim: a benchmark peer only, never a runtime dependency
    nice -n 10 python benchmarks/fasttext_bin_load.py [--words 200000] [--buckets 200000] [--dim 300]

Writes a model in fastText's layout (version 12, random words of 3-12 letters, random float32
rows, n-grams of 3-6 characters as fastText's defaults) to --work, then loads it in a child
process per system, one after another: ours with no limit (the dictionary walked, the input matrix
memory-mapped as one array, every vocabulary vector composed from its n-gram rows), ours with
`limit=1` (the same opening without the composing: what reading the file itself costs), and
gensim's (which reads the matrix with `np.fromfile` and composes in a Python loop). Each line:
wall and CPU seconds of the load alone (imports excluded; CPU time is the steadier on a shared
machine) and the child's peak RSS (`ru_maxrss`, which counts the mapped pages read); the last
line is gensim / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from benchmarks.scale import child  # one child runner: peak RSS from os.wait4

LOADERS = {
    "ours": "from d2l_lab.embeddings.fasttext_bin import load_fasttext_bin as load; limit = None",
    "ours-open": "from d2l_lab.embeddings.fasttext_bin import load_fasttext_bin as load; limit = 1",
    "gensim": "from gensim.models.fasttext import load_facebook_vectors as load; limit = None",
}
CHILD = """
import json, sys, time
{imports}
start, cpu = time.perf_counter(), time.process_time()
vectors = load(sys.argv[1]) if limit is None else load(sys.argv[1], limit=limit)
print(json.dumps({{"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "words": len(vectors)}}))
"""


def write_model(path: Path, words: int, buckets: int, dim: int, seed: int = 0) -> None:
    """A model fastText's reader accepts: header, dictionary, input (words + buckets rows) and
    output (words rows) matrices, written a block of rows at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    vocabulary: dict[bytes, None] = {}
    while len(vocabulary) < words:
        length = int(rng.integers(3, 13))
        vocabulary.setdefault(letters[rng.integers(0, 26, length)].tobytes(), None)
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", 793712314, 12))
        f.write(struct.pack("<12id", dim, 5, 5, 5, 5, 1, 2, 2, buckets, 3, 6, 100, 1e-4))
        f.write(struct.pack("<iiiqq", words, words, 0, 10 * words, -1))
        f.write(b"".join(word + b"\0" + struct.pack("<qb", words - i, 0) for i, word in enumerate(vocabulary)))
        for rows in (words + buckets, words):
            f.write(struct.pack("<?qq", False, rows, dim))
            for start in range(0, rows, 50_000):
                block = min(50_000, rows - start)
                f.write(rng.uniform(-0.1, 0.1, (block, dim)).astype("<f4").tobytes())


def load_in_child(system: str, model: Path) -> dict[str, float]:
    """The load's seconds and word count, and the child's peak RSS in MB."""
    out, _, peak_kib = child([sys.executable, "-c", CHILD.format(imports=LOADERS[system]), str(model)],
                             {**os.environ, "PYTHONPATH": str(ROOT)})
    return {**json.loads(out), "peak_mb": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=200_000)
    parser.add_argument("--buckets", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--systems", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--work", type=Path, default=None, help="directory for the model (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = (args.work or Path(scratch)) / f"fasttext-{args.words}x{args.dim}.bin"
        if not model.is_file():
            write_model(model, args.words, args.buckets, args.dim)
        print(f"model: {args.words:,} words + {args.buckets:,} buckets x {args.dim}, "
              f"{model.stat().st_size / 1e6:,.0f} MB")
        results = {}
        for system in args.systems:
            results[system] = load_in_child(system, model)
            r = results[system]
            print(f"{system:10s} {r['seconds']:8.2f} s wall {r['cpu']:8.2f} s CPU  peak {r['peak_mb']:7,.0f} MB  "
                  f"{r['words']:,} words")
        if "ours" in results and "gensim" in results:
            ours, theirs = results["ours"], results["gensim"]
            print(f"gensim / ours: {theirs['seconds'] / ours['seconds']:.1f}x wall, {theirs['cpu'] / ours['cpu']:.1f}x "
                  f"CPU, {theirs['peak_mb'] / ours['peak_mb']:.1f}x peak memory")


if __name__ == "__main__":
    main()
