"""Every experiment `d2l run` knows, named by import paths so the CLI imports nothing heavy
until a run starts (the config classes are torch-free; the task builders are not)."""

from __future__ import annotations

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

    @property
    def config_class(self) -> type:
        return _load(self.config_class_path)

    def build_task(self) -> Callable[[Any, Any], Any]:
        return _load(self.build_task_path)


EXPERIMENTS: dict[str, ExperimentSpec] = {
    spec.name: spec
    for spec in (
        ExperimentSpec("optim", "d2l_lab.experiments.optim.config:OptimRunConfig",
                       "d2l_lab.experiments.optim.tasks:build_task"),
        ExperimentSpec("word2vec", "d2l_lab.experiments.word2vec.config:Word2VecRunConfig",
                       "d2l_lab.experiments.word2vec.task:build_task"),
        ExperimentSpec("fasttext", "d2l_lab.experiments.fasttext.config:FastTextRunConfig",
                       "d2l_lab.experiments.fasttext.task:build_task"),
        ExperimentSpec("glove", "d2l_lab.experiments.glove.config:GloveRunConfig",
                       "d2l_lab.experiments.glove.task:build_task"),
    )
}


def experiment(name: str) -> ExperimentSpec:
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment '{name}': choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
