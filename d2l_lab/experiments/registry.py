"""Every experiment `d2l run` knows: the only list of experiments. The CLI derives its `d2l run`
commands, `runs list` and sweeps from these rows.

Rows name the config class and the task builder by import path, so the CLI imports nothing heavy
until a run starts (the config classes are torch-free; the task builders are not).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from d2l_lab.errors import UserError


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    config_class_path: str
    """`module:Class` of the experiment's config dataclass."""
    build_task_path: str
    """`module:function` that turns (config, device) into a run-loop Task."""
    summary: str = ""
    """One line: the `d2l run <name>` help."""
    key_params: tuple[str, ...] = ()
    """Dotted config keys `d2l runs list` shows and compare labels by first (default: the first few)."""
    data_keys: tuple[str, ...] = ()
    """Dotted config keys that say which data a run trains on: configs that agree on them read the
    same data. Empty when the data comes with the experiment (optim's surfaces and airfoil)."""
    read_data_path: str | None = None
    """`module:function` that reads and checks that data, given the `data_keys` values in order
    (raising UserError when it cannot be trained on); a sweep calls it once per distinct data
    before any point starts."""

    @property
    def config_class(self) -> type:
        return _load(self.config_class_path)

    def build_task(self) -> Callable[[Any, Any, Any], Any]:
        return _load(self.build_task_path)

    def data_of(self, config: Any) -> tuple[Any, ...]:
        """The values of `data_keys` in `config`: which data it trains on."""
        return tuple(functools.reduce(getattr, key.split("."), config) for key in self.data_keys)

    def read_data(self, data: tuple[Any, ...]) -> None:
        """Read and check the data `data_of` named (cached on disk, so the run reads it again for free)."""
        if self.read_data_path is not None:
            _load(self.read_data_path)(*data)


READ_CORPUS = "d2l_lab.experiments.embedding_task:read_corpus"
"""(corpus, min_count): every embedding model's data."""

EXPERIMENTS: dict[str, ExperimentSpec] = {
    spec.name: spec
    for spec in (
        ExperimentSpec("optim", "d2l_lab.experiments.optim.config:OptimRunConfig",
                       "d2l_lab.experiments.optim.tasks:build_task",
                       "Optimization algorithms on a 2-D surface or on airfoil linear regression (book ch. 12).",
                       ("problem.name", "optimizer.algo", "optimizer.impl", "optimizer.lr", "train.batch_size")),
        ExperimentSpec("word2vec", "d2l_lab.experiments.word2vec:Word2VecRunConfig",
                       "d2l_lab.experiments.word2vec:build_task",
                       "word2vec (skip-gram or CBOW; negative sampling, hierarchical or full softmax) on the "
                       "Penn Treebank or --corpus (book 15.1-15.4).",
                       data_keys=("corpus", "word2vec.min_count"), read_data_path=READ_CORPUS),
        ExperimentSpec("fasttext", "d2l_lab.experiments.fasttext:FastTextRunConfig",
                       "d2l_lab.experiments.fasttext:build_task",
                       "fastText: skip-gram over character n-gram vectors, which also embed unseen words (book 15.6).",
                       data_keys=("corpus", "fasttext.min_count"), read_data_path=READ_CORPUS),
        ExperimentSpec("glove", "d2l_lab.experiments.glove:GloveRunConfig",
                       "d2l_lab.experiments.glove:build_task",
                       "GloVe from weighted co-occurrence counts on the Penn Treebank or --corpus (book 15.5).",
                       data_keys=("corpus", "glove.min_count"), read_data_path=READ_CORPUS),
        ExperimentSpec("ppmi-svd", "d2l_lab.experiments.ppmi_svd:PPMISVDRunConfig",
                       "d2l_lab.experiments.ppmi_svd:build_task",
                       "PPMI + truncated SVD of the co-occurrence counts GloVe uses (Levy et al. 2015).",
                       data_keys=("corpus", "ppmi_svd.min_count"), read_data_path=READ_CORPUS),
    )
}


def experiment(name: str) -> ExperimentSpec:
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment '{name}': choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def catalog_experiments() -> dict[str, tuple[str, ...]]:
    """Experiment name -> its key parameters: what the run catalog (`d2l_lab.runs.catalog`) needs."""
    return {name: spec.key_params for name, spec in EXPERIMENTS.items()}


def build(name: str, config: dict[str, Any]) -> tuple[Any, Callable[[Any, Any], Any]]:
    """The validated config and the task builder of experiment `name`, from a plain config dict."""
    from d2l_lab.config.schema import from_dict

    spec = experiment(name)
    return from_dict(spec.config_class, config), spec.build_task()


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
