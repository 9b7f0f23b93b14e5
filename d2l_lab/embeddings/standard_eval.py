"""The project's standard intrinsic evaluation: the chosen sets of `eval_sets.EVAL_SETS` (the
bundled ones by default) under one `Protocol`, reported the same way by `d2l embed eval` and by
every embedding run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from d2l_lab.embeddings import eval_sets
from d2l_lab.embeddings.evaluation import evaluate_analogies, evaluate_similarity
from d2l_lab.embeddings.protocol import GENSIM_DEFAULT, Protocol
from d2l_lab.embeddings.vectors import WordVectors


def evaluate_standard(vectors: WordVectors, protocol: Protocol = GENSIM_DEFAULT,
                      sets: Sequence[eval_sets.EvalSet] | None = None) -> dict[str, Any]:
    """`protocol` (its options), then each set's evaluation by its name: similarity rho or analogy
    accuracy with coverage; analogies per section where the set reports them (BATS's categories).
    `sets`: `eval_sets.DEFAULT_SETS` (the bundled ones) unless given.

    NaN (nothing usable) becomes None, so the result is valid JSON.
    """
    chosen = eval_sets.DEFAULT_SETS if sets is None else sets
    results = {s.name: evaluate_set(vectors, s, protocol) for s in chosen}
    return _json_safe({"protocol": protocol.as_dict(), **results})


def evaluate_set(vectors: WordVectors, eval_set: eval_sets.EvalSet,
                 protocol: Protocol = GENSIM_DEFAULT) -> dict[str, Any]:
    """One set's evaluation (its score under `eval_set.score`, NaN when nothing was usable)."""
    if eval_set.kind == "similarity":
        return evaluate_similarity(vectors, eval_set.loader(), protocol)
    result = evaluate_analogies(vectors, eval_set.loader(), protocol)
    if not eval_set.per_section:
        result.pop("sections")
    return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
