"""The config of `d2l run word2vec`: run settings around the engine's own `Word2VecConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.embeddings.word2vec_config import Word2VecConfig
from d2l_lab.experiments.corpus_config import CorpusRunConfig


@dataclass(frozen=True)
class Word2VecRunConfig(CorpusRunConfig):
    word2vec: Word2VecConfig = param(Word2VecConfig(), "model, sampling and optimisation settings")
