"""The project's standard intrinsic evaluation: WordSim-353, SimLex-999 and the Google analogy
set, all bundled, reported the same way by `d2l embed eval` and by every embedding run."""

from __future__ import annotations

import math
from typing import Any

from d2l_lab.datasets.evalsets import load_google_analogies, load_simlex999, load_wordsim353
from d2l_lab.embeddings.evaluation import evaluate_analogies, evaluate_similarity
from d2l_lab.embeddings.vectors import WordVectors


def evaluate_standard(vectors: WordVectors, restrict_vocab: int | None = 30000,
                      method: str = "3cosadd") -> dict[str, Any]:
    """Similarity rho on both sets and analogy accuracy, with out-of-vocabulary counts.

    NaN (nothing usable) becomes None, so the result is valid JSON.
    """
    analogies = evaluate_analogies(vectors, load_google_analogies(), restrict_vocab=restrict_vocab, method=method)
    analogies.pop("sections")
    return _json_safe({
        "wordsim353": evaluate_similarity(vectors, load_wordsim353()),
        "simlex999": evaluate_similarity(vectors, load_simlex999()),
        "google_analogy": analogies,
    })


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
