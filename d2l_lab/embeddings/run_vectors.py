"""Word vectors named on the command line: a run directory of an embedding experiment, or a
vectors file in any supported format (`--vectors FILE`)."""

from __future__ import annotations

from pathlib import Path

from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.errors import UserError

VECTORS_NAME = "vectors.txt"


def load_run_vectors(run_dir: str | Path, limit: int | None = None) -> WordVectors:
    """The vectors a word2vec/GloVe/fastText run saved."""
    run_dir = Path(run_dir)
    path = run_dir / VECTORS_NAME
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else f"has no {VECTORS_NAME}"
        raise UserError(f"run directory '{run_dir}' {what}: give an embedding run directory, or --vectors FILE")
    return load_vectors(path, limit=limit)
