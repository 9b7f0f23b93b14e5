"""Negative sampling (the book's section 15.2.1): each (input, target) example against noise words.

The book draws K noise words per pair from the unigram^0.75 distribution. Here one draw of S
words serves a group of `negative_group` examples, each scoring all S with weight K/S (the same
objective in expectation), so the noise term is two small matrix products per group; each noise
row then sums the steps of its group only, which keeps high learning rates stable. A chunk's
noise words are drawn with its examples, for all its batches at once (`draw`).
"""

from __future__ import annotations

import numpy as np
import torch

from d2l_lab.embeddings.sampling import NoiseSampler
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.examples import ContextMeans, Pairs
from d2l_lab.embeddings.word2vec.rows import add_rows


def sgns_gradients(
    inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor, weight: float,
    mask: torch.Tensor | None = None, scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss and hand-derived gradients of negative sampling for groups sharing noise words.

    Shapes: `inputs`, `targets` [G, g, d] (input vector and true output vector of each pair),
    `noise` [G, S, d] (output vectors of the group's noise words). Per pair the loss is
        -log sigmoid(x . y) - weight * sum_s log sigmoid(-x . n_s),
    with weight = K / S, i.e. K noise words in expectation. `mask` [G, g] zeroes padding pairs.
    Returns (loss per pair [G, g], d/d inputs, d/d targets, d/d noise), the gradients
    multiplied by `scale` (-lr turns them into SGD steps at no extra cost).
    """
    positive = (inputs * targets).sum(-1)
    # Scores as [G, S, g] = noise @ inputs^T: the same numbers as inputs @ noise^T, but torch's
    # CPU bmm runs this layout 1.7x faster for PTB's shapes (S=8 noise rows, g=16 pairs, d=100).
    negative = torch.bmm(noise, inputs.transpose(1, 2))
    softplus = torch.nn.functional.softplus
    loss = softplus(-positive) + weight * softplus(negative).sum(1)
    # d loss / d score: sigmoid(s) - 1 for the true pair, weight * sigmoid(s) for noise.
    grad_positive = torch.sigmoid(positive).sub_(1).mul_(scale)
    grad_negative = torch.sigmoid(negative).mul_(weight * scale)
    if mask is not None:
        loss = loss * mask
        grad_positive.mul_(mask)
        grad_negative.mul_(mask.unsqueeze(1))
    grad_positive = grad_positive.unsqueeze(-1)
    return (
        loss,
        torch.baddbmm(grad_positive * targets, grad_negative.transpose(1, 2), noise),
        grad_positive * inputs,
        torch.bmm(grad_negative, inputs),
    )


class NegativeSampling:
    """Steps the output rows of the targets and of the group's noise words (row w of the output
    table: word w's output vector)."""

    layouts = {"skipgram": Pairs, "cbow": ContextMeans}

    def __init__(self, counts: np.ndarray, cfg: Word2VecConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.noise = NoiseSampler(counts)
        self.group = cfg.negative_group
        """Examples that share a draw of noise words: a batch is stepped in whole groups."""

    def draw(self, batches: int, rng: np.random.Generator) -> np.ndarray:
        """The noise words of every group of every batch of a chunk [batches, groups, S]."""
        cfg = self.cfg
        return self.noise.sample((batches, cfg.batch_size // cfg.negative_group, cfg.shared_negatives), rng)

    def step(self, table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor, size: int, lr: float,
             noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the output `table` and of `inputs` [n, 1, dim] (n whole groups, examples
        past `size` padding) predicting `targets` [n] against the groups' `noise` [n / group, S];
        steps the table's rows, returns (loss per example [groups, group], steps of the inputs
        [n, 1, dim])."""
        cfg = self.cfg
        n, dim = inputs.shape[0], inputs.shape[2]
        groups = n // self.group
        mask = None
        if n > size:
            mask = torch.ones(n, device=inputs.device)
            mask[size:] = 0
            mask = mask.view(groups, self.group)
        noise_ids = noise.reshape(-1)
        shape = (groups, self.group, dim)
        loss, step_inputs, step_targets, step_noise = sgns_gradients(
            inputs.view(shape), table.index_select(0, targets).view(shape),
            table.index_select(0, noise_ids).view(groups, cfg.shared_negatives, dim),
            cfg.negatives / cfg.shared_negatives, mask, scale=-lr)
        add_rows(table, targets, step_targets.view(-1, dim))
        add_rows(table, noise_ids, step_noise.view(-1, dim))
        return loss, step_inputs.view(n, 1, dim)
