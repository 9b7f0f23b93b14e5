"""The config of `d2l run glove`: run settings around the engine's own `GloveConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.embeddings.glove_config import GloveConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig


@dataclass(frozen=True)
class GloveRunConfig(CorpusRunConfig):
    glove: GloveConfig = param(GloveConfig(), "co-occurrence window, weighting and optimisation settings")
