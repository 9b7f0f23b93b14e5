"""The project's standard intrinsic evaluation: every set of `eval_sets.EVAL_SETS` (bundled),
reported the same way by `d2l embed eval` and by every embedding run."""

from __future__ import annotations

import math
from typing import Any

from d2l_lab.embeddings import eval_sets
from d2l_lab.embeddings.evaluation import evaluate_analogies, evaluate_similarity
from d2l_lab.embeddings.vectors import WordVectors


def evaluate_standard(vectors: WordVectors, restrict_vocab: int | None = 30000,
                      method: str = "3cosadd") -> dict[str, Any]:
    """Each set's evaluation by its name: similarity rho or analogy accuracy, with
    out-of-vocabulary counts.

    NaN (nothing usable) becomes None, so the result is valid JSON.
    """
    return _json_safe({s.name: evaluate_set(vectors, s, restrict_vocab, method) for s in eval_sets.EVAL_SETS})


def evaluate_set(vectors: WordVectors, eval_set: eval_sets.EvalSet, restrict_vocab: int | None = 30000,
                 method: str = "3cosadd") -> dict[str, Any]:
    """One set's evaluation (its score under `eval_set.score`, NaN when nothing was usable);
    analogies without their per-section breakdown."""
    if eval_set.kind == "similarity":
        return evaluate_similarity(vectors, eval_set.loader())
    result = evaluate_analogies(vectors, eval_set.loader(), restrict_vocab=restrict_vocab, method=method)
    result.pop("sections")
    return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
