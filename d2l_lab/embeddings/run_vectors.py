"""Word vectors named on the command line: a run directory of an embedding experiment, or a
vectors file in any supported format (`--vectors FILE`). A fastText run directory also holds
its n-gram table, which embeds words outside the vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from d2l_lab.embeddings.vector_cache import load_vectors_cached
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.datasets.fetch import Progress

VECTORS_NAME = "vectors.txt"
SUBWORDS_NAME = "subwords.npz"


def load_run_vectors(run_dir: str | Path, limit: int | None = None, warn: Callable[[str], None] | None = None,
                     progress: Progress | None = None) -> WordVectors:
    """The vectors a word2vec/GloVe/fastText run saved; for fastText, unknown words are embedded
    from their character n-grams. `warn` and `progress` are `load_vectors`'s."""
    run_dir = Path(run_dir)
    path = run_dir / VECTORS_NAME
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else f"has no {VECTORS_NAME}"
        raise UserError(f"run directory '{run_dir}' {what}: give an embedding run directory, or --vectors FILE")
    vectors = load_vectors_cached(path, limit=limit, warn=warn, progress=progress)
    if (run_dir / SUBWORDS_NAME).is_file():
        from d2l_lab.embeddings.subwords import SubwordVectors

        subwords = SubwordVectors.load(run_dir / SUBWORDS_NAME)
        if subwords.rows.shape[1] != vectors.dim:
            raise UserError(f"run directory '{run_dir}': {SUBWORDS_NAME} holds {subwords.rows.shape[1]}-dimensional "
                            f"rows but {VECTORS_NAME} {vectors.dim}-dimensional vectors; the files come from "
                            "different runs: re-run it")
        vectors.oov_vector = subwords
    return vectors
