"""The config of `d2l run fasttext`: run settings around the engine's own `FastTextConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.embeddings.fasttext_config import FastTextConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig


@dataclass(frozen=True)
class FastTextRunConfig(CorpusRunConfig):
    fasttext: FastTextConfig = param(FastTextConfig(), "subword, model, sampling and optimisation settings")
