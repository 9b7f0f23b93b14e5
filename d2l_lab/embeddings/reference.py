"""The book's word2vec (d2l.ai 15.4): the documented model, and the oracle of the fast engine.

`SkipGram` is the book's `skip_gram` as a module: an input table `embed_v` and an output table
`embed_u`, and the scores of each centre word against its contexts and noise words as one batched
product. `sigmoid_bce_loss` is the book's `SigmoidBCELoss`: binary cross-entropy of those scores
against labels (1 for a context word, 0 for a noise word), with a mask over the padding. `CBOW`
scores the mean of the context vectors against the centre word and noise words the same way.

`embeddings.word2vec` trains the same model with hand-derived sparse updates (its docstring lists
the optimisations); `tests/test_reference.py` checks its losses and updates against autograd on
these modules.
"""

from __future__ import annotations

import torch
from torch import nn


class SkipGram(nn.Module):
    """Scores [B, 1, m] of centre words [B, 1] against context-or-noise words [B, m]."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embed_v = nn.Embedding(vocab_size, dim)  # centre (input) vectors: the word vectors
        self.embed_u = nn.Embedding(vocab_size, dim)  # context (output) vectors

    def forward(self, center: torch.Tensor, contexts_and_negatives: torch.Tensor) -> torch.Tensor:
        v = self.embed_v(center)
        u = self.embed_u(contexts_and_negatives)
        return torch.bmm(v, u.permute(0, 2, 1))


class CBOW(SkipGram):
    """Scores [B, 1, m] of the mean of context words [B, n] (mask [B, n] marks the real ones)
    against centre-or-noise words [B, m]."""

    def forward(self, contexts: torch.Tensor, context_mask: torch.Tensor,  # type: ignore[override]
                center_and_negatives: torch.Tensor) -> torch.Tensor:
        weights = context_mask / context_mask.sum(1, keepdim=True)
        v = torch.bmm(weights.unsqueeze(1).to(self.embed_v.weight.dtype), self.embed_v(contexts))
        u = self.embed_u(center_and_negatives)
        return torch.bmm(v, u.permute(0, 2, 1))


def sigmoid_bce_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """The book's `SigmoidBCELoss` summed over each example's valid entries: [B].

    The book's training loop then divides each example's loss by its number of valid entries
    (`* mask.shape[1] / mask.sum(axis=1)`); the sum is kept here, the loss the engine minimises
    when an example is one (centre, context) pair. `weights` scale single entries (the engine's
    shared noise words count K/S each).
    """
    scores = scores.reshape(labels.shape)
    losses = nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none") * mask
    if weights is not None:
        losses = losses * weights
    return losses.sum(1)
