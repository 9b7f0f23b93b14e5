"""The book's full softmax (section 15.1): p(o | c) = exp(u_o . v_c) / sum_w exp(u_w . v_c).

This is how the book first defines skip-gram and CBOW, and why its section 15.2 exists: the
normaliser sums over all V words, so one prediction costs V dot products and its gradient
touches every output row. Negative sampling (`negative_sampling.py`) and hierarchical softmax
(`hierarchical_softmax.py`) train the same kind of model at K + 1 and ~log2(V) dot products per
prediction. Offered so that the cost they avoid can be measured, not guessed.

The gradient of the loss -log p(o | c) with respect to the scores s_w = u_w . v_c is
softmax(s) - onehot(o); both tables' gradients follow by the chain rule. Every score of a batch
comes from the tables as they were at its start; the dense [V, dim] step of the output table is
summed over the batch and added once, as a dense gradient would be.
"""

from __future__ import annotations

import numpy as np
import torch

from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.examples import ContextMeans, Pairs

BLOCK_SCORES = 1 << 22
"""Scores computed at once (16 MiB in float32): a batch is scored in blocks of examples, so that
memory stays bounded on a vocabulary of a million words."""


class FullSoftmax:
    """Steps every output row (row w of the output table: word w's output vector u_w)."""

    layouts = {"skipgram": Pairs, "cbow": ContextMeans}
    group = 1
    """No draws shared between examples: batches are sliced anywhere, never padded."""

    def __init__(self, counts: np.ndarray, cfg: Word2VecConfig, device: torch.device) -> None:
        """Nothing to prepare: every word is scored, whatever its count."""

    def draw(self, batches: int, rng: np.random.Generator) -> None:
        """Nothing to draw: every word is scored."""
        return None

    def step(self, table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor, size: int, lr: float,
             draws: None) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the output `table` and of `inputs` [n, M, dim] (M inputs each predicting
        its example's target) predicting `targets` [n]; steps every row of the table, returns
        (loss per example, summed over its inputs [n], steps of the inputs [n, M, dim])."""
        n, inputs_per_example, dim = inputs.shape
        vocab = table.shape[0]
        loss = inputs.new_empty(n)
        input_steps = torch.empty_like(inputs)
        table_step = torch.zeros_like(table)
        block = max(1, BLOCK_SCORES // (inputs_per_example * vocab))
        for lo in range(0, n, block):
            x = inputs[lo:lo + block]
            target = targets[lo:lo + block].view(-1, 1, 1).expand(-1, inputs_per_example, 1)
            scores = torch.matmul(x, table.T)  # [b, M, V]
            log_normaliser = torch.logsumexp(scores, dim=2, keepdim=True)
            loss[lo:lo + block] = (log_normaliser - scores.gather(2, target)).sum((1, 2))
            # d loss / d scores = softmax - onehot(target), scaled by -lr into a step
            grad = scores.sub_(log_normaliser).exp_()
            grad.scatter_add_(2, target, grad.new_full(target.shape, -1.0))
            grad.mul_(-lr)
            input_steps[lo:lo + block] = torch.matmul(grad, table)
            table_step.addmm_(grad.reshape(-1, vocab).T, x.reshape(-1, dim))
        table.add_(table_step)
        return loss, input_steps
