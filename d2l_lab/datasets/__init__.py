"""Bundled, offline, checksummed data: airfoil (optimisers), PTB (word2vec) and the embedding
evaluation sets. Nothing is downloaded; every bundled file is verified by sha1 when read."""

from d2l_lab.datasets.airfoil import airfoil_checksum, load_airfoil
from d2l_lab.datasets.corpus import corpus_checksum, ptb_checksum, read_corpus, read_ptb
from d2l_lab.datasets.evalsets import load_google_analogies, load_simlex999, load_wordsim353

__all__ = [
    "airfoil_checksum",
    "corpus_checksum",
    "load_airfoil",
    "load_google_analogies",
    "load_simlex999",
    "load_wordsim353",
    "ptb_checksum",
    "read_corpus",
    "read_ptb",
]
