"""Make `tiny_fasttext.bin` and `tiny_fasttext_gensim.json`, the fixtures of tests/test_fasttext_bin.py.

    pip install -e '.[bench]'          # gensim: a fixture maker only, never a runtime dependency
    python tests/data/make_fasttext_bin.py

Trains gensim's FastText (one worker, seeded: the same file on every run of one gensim version)
on a few sentences, 8 dimensions and 100 buckets so the model is a few KB, and saves it in
Facebook's binary format with `save_facebook_model`. The JSON holds what gensim's own reader,
`load_facebook_vectors`, answers for that file: the vocabulary in file order and the vectors of
known words (their row averaged with their n-gram rows) and of unseen ones (n-gram rows alone),
non-ASCII words included, so the tests compare our reader with gensim's without importing gensim.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gensim.models.fasttext import FastText, load_facebook_vectors, save_facebook_model

HERE = Path(__file__).resolve().parent
MODEL = HERE / "tiny_fasttext.bin"
ANSWERS = HERE / "tiny_fasttext_gensim.json"
LINES = ("the cat sat on the mat", "the dog sat on the log", "a café serves coffee to the cat",
         "the naïve dog drinks coffee in the café", "cats and dogs sit on mats and logs")
SENTENCES = [line.split() for line in LINES] * 20
UNSEEN = ["catty", "doggo", "cafés", "mátter", "日本", "zz", "x"]
"""Words outside the vocabulary: n-grams shared with it, accents (the signed-byte hash), CJK, and
words too short to have many n-grams."""


def main() -> None:
    model = FastText(vector_size=8, window=2, min_count=1, epochs=5, bucket=100, min_n=2, max_n=4,
                     sg=1, negative=3, workers=1, seed=7)
    model.build_vocab(SENTENCES)
    model.train(SENTENCES, total_examples=len(SENTENCES), epochs=model.epochs)
    save_facebook_model(model, str(MODEL))
    wv = load_facebook_vectors(str(MODEL))
    answers = {
        "words": list(wv.index_to_key),
        "dim": int(wv.vector_size), "bucket": int(wv.bucket), "min_n": int(wv.min_n), "max_n": int(wv.max_n),
        "known": {w: np.asarray(wv[w], dtype=np.float64).tolist() for w in wv.index_to_key},
        "unseen": {w: np.asarray(wv[w], dtype=np.float64).tolist() for w in UNSEEN},
        "similar": {w: [[n, float(s)] for n, s in wv.most_similar(w, topn=3)] for w in ("cat", "catty")},
    }
    ANSWERS.write_text(json.dumps(answers, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{MODEL.name}: {MODEL.stat().st_size:,} bytes, {len(wv)} words; {ANSWERS.name} written")


if __name__ == "__main__":
    main()
