"""Word-similarity and analogy benchmarks for judging trained embeddings.

Words are lower-cased because the PTB vocabulary is lower-case; without it "Jerusalem" or
"Athens" could never be found. Results are cached tuples, so callers cannot corrupt the cache.
"""

from __future__ import annotations

import functools

from d2l_lab.datasets import bundled

SimilarityPair = tuple[str, str, float]
Analogy = tuple[str, str, str, str, str]


def _similarity_pairs(name: str) -> tuple[SimilarityPair, ...]:
    # Format: '#' comment/header lines, then "word1<TAB>word2<TAB>score".
    pairs = []
    for line in bundled.read_text(name).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        first, second, score = line.split("\t")
        pairs.append((first.lower(), second.lower(), float(score)))
    return tuple(pairs)


@functools.lru_cache(maxsize=None)
def load_wordsim353() -> tuple[SimilarityPair, ...]:
    """WordSimilarity-353: 353 (word1, word2, human mean score 0-10) triples."""
    return _similarity_pairs("wordsim353")


@functools.lru_cache(maxsize=None)
def load_simlex999() -> tuple[SimilarityPair, ...]:
    """SimLex-999: 999 (word1, word2, SimLex999 score 0-10) triples."""
    return _similarity_pairs("simlex999")


@functools.lru_cache(maxsize=None)
def load_google_analogies() -> tuple[Analogy, ...]:
    """Google analogies: 19,544 (section, a, b, c, expected) in 14 sections; a:b :: c:expected."""
    analogies = []
    section = ""
    for line in bundled.read_text("google_analogies").splitlines():
        if line.startswith(":"):
            section = line[1:].strip().lower()
        elif line.strip():
            a, b, c, expected = line.lower().split()
            analogies.append((section, a, b, c, expected))
    return tuple(analogies)
