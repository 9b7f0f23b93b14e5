"""The losses word2vec trains with: the only list. `--loss` choices, their help, the settings
whose defaults depend on the loss and the settings only one loss reads all come from these rows;
the trainer builds the row's class once and never branches on the loss again.

Adding a loss: a module in this package with a class offering the `Objective` interface of
`trainer.py` (`group`, `layouts`, `draw`, `step`), and its row here. Torch-free: the config and
`d2l --help` read this table, and the class is imported only when a trainer is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectiveSpec:
    name: str
    objective: str
    """`module:Class` of the objective, imported when a trainer is built."""
    help: str
    """What the loss is, for `--loss`'s help."""
    defaults: Mapping[str, float]
    """Defaults of the settings that depend on the loss (`subsample`, `lr`, `epochs`), measured on PTB."""
    settings: tuple[str, ...] = ()
    """Config keys that this loss alone reads: left out of the saved config of a run with another."""

    def objective_class(self) -> type:
        module, _, name = self.objective.partition(":")
        return getattr(importlib.import_module(module), name)


OBJECTIVES: dict[str, ObjectiveSpec] = {spec.name: spec for spec in (
    ObjectiveSpec("ns", "d2l_lab.embeddings.word2vec.negative_sampling:NegativeSampling",
                  "negative sampling, each prediction against K noise words",
                  {"subsample": 1e-4, "lr": 0.05, "epochs": 15},
                  ("negatives", "shared_negatives", "negative_group")),
    ObjectiveSpec("hs", "d2l_lab.embeddings.word2vec.hierarchical_softmax:HierarchicalSoftmax",
                  "hierarchical softmax, each prediction the ~log2(V) binary decisions on its word's path in a "
                  "Huffman tree of the word counts (the C tool's -hs 1, gensim's hs=1), the output table "
                  "holding the tree's inner nodes",
                  {"subsample": 1e-3, "lr": 0.035, "epochs": 10}),
    ObjectiveSpec("softmax", "d2l_lab.embeddings.word2vec.softmax:FullSoftmax",
                  "the book's full softmax over the whole vocabulary, each prediction scoring all V words "
                  "(exact, and V/log2(V) times the work of hs: what the approximations avoid)",
                  {"subsample": 1e-4, "lr": 0.05, "epochs": 5}),
)}


def objective_settings() -> set[str]:
    """Every config key some loss alone reads."""
    return {key for spec in OBJECTIVES.values() for key in spec.settings}
