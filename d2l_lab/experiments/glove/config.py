"""The config of `d2l run glove`: run settings around the engine's own `GloveConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.devices import check_device_name
from d2l_lab.embeddings.glove import GloveConfig


@dataclass(frozen=True)
class GloveRunConfig:
    seed: int = param(0, "seeds the initial vectors and every epoch's shuffle", ge=0)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    corpus: str | None = param(None, "whitespace-tokenised text file, one sentence per line (.gz/.xz "
                               "accepted); null trains on the bundled Penn Treebank (887,521 tokens)")
    glove: GloveConfig = param(GloveConfig(), "co-occurrence window, weighting and optimisation settings")

    def check(self) -> None:
        check_device_name(self.device)
