"""The config of `d2l run fasttext`: run settings around the engine's own `FastTextConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.devices import check_device_name
from d2l_lab.embeddings.fasttext_config import FastTextConfig


@dataclass(frozen=True)
class FastTextRunConfig:
    seed: int = param(0, "seeds the initial word and n-gram vectors and each epoch's sampling", ge=0)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    corpus: str | None = param(None, "whitespace-tokenised text, one sentence per line (.gz/.xz "
                               "accepted); null trains on the bundled Penn Treebank")
    fasttext: FastTextConfig = param(FastTextConfig(), "subword, model, sampling and optimisation settings")

    def check(self) -> None:
        check_device_name(self.device)
