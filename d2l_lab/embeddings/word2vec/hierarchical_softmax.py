"""Hierarchical softmax: the other approximate training of the book's section 15.2.

Each word is a leaf of a binary tree; p(w | x) is the product of the binary decisions along the
path from the root to w, each a logistic unit sigma(+-x . u_n) of one inner node n. A prediction
then costs its path length (about log2 V) dot products instead of V. As in the word2vec C tool and
gensim `hs=1`, the tree is a Huffman tree over the word counts, so frequent words have short
paths, and the V - 1 inner-node vectors u_n form the output table (`vectors.txt` holds the input
vectors, as with negative sampling).

`huffman_tree` follows the C tool's `CreateBinaryTree` step by step (the same codes and inner-node
numbers for the same counts, so the two train the same model); `hs_gradients` is the loss of one
batch of paths with its hand-derived gradients, vectorised over (example, input, depth) with a mask
for paths shorter than the batch's longest, checked against autograd in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.examples import ContextMeans, ContextsOfCentre
from d2l_lab.embeddings.word2vec.rows import add_rows

MAX_EXP = 6.0
"""A decision whose score is this far from 0 takes no step, as in the C tool and gensim (which
skip it): its sigmoid is saturated, and without the skip a confidently wrong decision at the top
of the tree, summed over a whole batch of paths, makes the node's step blow up (measured on PTB:
2 of 3 seeds diverged within the first epoch at 2048 pairs per batch)."""

NODE_STEP_CAP = 16
"""The most pairs' steps an inner node's row sums in one batch: a node on the paths of k > 16
pairs of the batch takes 16/k of their summed step (their mean step, 16 times). The top of the
tree lies on nearly every path, so its summed step is ~2048 steps computed from one stale vector,
where the C tool and gensim take them one at a time, each from the vector the last one moved;
the cap keeps it in proportion, as negative sampling's groups do for a noise row. Measured on
PTB (t = 1e-4, lr 0.05, seeds 0-1): SimLex-999 rho rose from 0.098 to 0.120 and WordSim-353 from 0.320 to
0.345."""

MAX_CODE_LENGTH = 40
"""The C tool's limit on a path's length: a Huffman tree this deep needs counts spanning more than
the Fibonacci number F(41) ~ 1.6e8, far beyond any vocabulary's min_count-to-max ratio."""


@dataclass(frozen=True)
class HuffmanTree:
    """Per word w: `lengths[w]` decisions, `points[w, :lengths[w]]` the inner nodes on its path
    from the root (0 .. V-2, the root is V-2) and `codes[w, :lengths[w]]` the branch taken at
    each (0 or 1). Entries past a word's length are 0."""

    codes: np.ndarray  # uint8 [V, max length]
    points: np.ndarray  # int64 [V, max length]
    lengths: np.ndarray  # int64 [V]


def huffman_tree(counts: np.ndarray) -> HuffmanTree:
    """The Huffman tree of the word counts, built as the C tool builds it.

    The tool's words are sorted by descending count; ours need not be, so words are first put in
    that order (stable, so ties keep the vocabulary's order) and the result mapped back. Then, as
    in the tool, two cursors walk the sorted leaves (from the rarest up) and the new inner nodes
    (in order of creation, which is also ascending count) to join the two smallest; the first
    smallest is taken from the leaves unless a node is strictly smaller, and the second of each
    pair gets code 1.
    """
    counts = np.asarray(counts, dtype=np.int64)
    size = counts.size
    if size < 2:
        raise ValueError(f"a Huffman tree needs at least 2 words, got {size}")
    order = np.argsort(-counts, kind="stable")
    count = np.concatenate([counts[order], np.full(size - 1, np.iinfo(np.int64).max // 4)])
    parent = np.zeros(2 * size - 1, dtype=np.int64)
    binary = np.zeros(2 * size - 1, dtype=np.uint8)
    leaf, node = size - 1, size  # the rarest leaf not yet joined, the oldest node not yet joined
    for a in range(size - 1):
        smallest = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                smallest.append(leaf)
                leaf -= 1
            else:
                smallest.append(node)
                node += 1
        count[size + a] = count[smallest[0]] + count[smallest[1]]
        parent[smallest] = size + a
        binary[smallest[1]] = 1
    root = 2 * size - 2
    # Walk all leaves up at once; step k holds, per leaf, the k-th decision above it: the code of
    # the child taken and the inner node (as 0..V-2) where it is taken.
    current = np.arange(size)
    up_codes, up_points, lengths = [], [], np.zeros(size, dtype=np.int64)
    while (below_root := current != root).any():
        up_codes.append(np.where(below_root, binary[current], 0))
        up_points.append(np.where(below_root, parent[current] - size, 0))
        lengths += below_root
        current = np.where(below_root, parent[current], root)
    if lengths.max() > MAX_CODE_LENGTH:
        raise ValueError(f"the Huffman tree is {lengths.max()} deep, deeper than {MAX_CODE_LENGTH}")
    # Root first, as the tool stores them: decision j of a path of length L is step L-1-j up.
    depth = np.arange(int(lengths.max()))
    step = np.clip(lengths[:, None] - 1 - depth, 0, None)
    inside = depth < lengths[:, None]
    codes = np.where(inside, np.take_along_axis(np.stack(up_codes, axis=1), step, axis=1), 0).astype(np.uint8)
    points = np.where(inside, np.take_along_axis(np.stack(up_points, axis=1), step, axis=1), 0)
    unsorted = np.empty_like(order)
    unsorted[order] = np.arange(size)  # sorted position of each word
    return HuffmanTree(codes[unsorted], points[unsorted], lengths[unsorted])


def hs_gradients(inputs: torch.Tensor, nodes: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor,
                 scale: float = 1.0, node_scale: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss and hand-derived gradients of hierarchical softmax for a batch of paths, each path
    predicted from M input vectors.

    Shapes: `nodes` [n, L, d] (the vectors u of the inner nodes on the path to example i's target
    word, root first), `codes` [n, L] (the branch taken, 0 or 1), `inputs` [n, M, d] (the input
    vectors x that each predict that path: skip-gram's context words of one centre, or CBOW's one
    mean) and `mask` [n, M, L] or [n, 1, L] (1 where an input exists and its path reaches that depth). With
    s = x . u and sign = 2 * code - 1, the loss of one input is the sum over the path of
    softplus(sign * s), i.e. -log sigma(s) for code 0 and -log sigma(-s) for code 1, the C tool's
    labels 1 - code; and d loss / d s = sign * sigma(sign * s), taken as 0 where |s| >= MAX_EXP
    (the loss itself is exact). Sharing a path between M inputs turns the work into small matrix
    products and gathers the path's rows once, not M times.
    Returns (loss per example summed over its inputs [n], d/d inputs [n, M, d], d/d nodes
    [n, L, d]), the gradients multiplied by `scale` (-lr makes them SGD steps), those of the
    nodes also by `node_scale` [n, L] if given (`node_step_scale`).
    """
    scores = torch.bmm(inputs, nodes.transpose(1, 2))
    sign = codes.to(scores.dtype).mul(2).sub_(1).unsqueeze(1)
    signed = scores * sign
    loss = (torch.nn.functional.softplus(signed) * mask).sum((1, 2))
    stepped = mask * (scores.abs() < MAX_EXP)
    grad_scores = torch.sigmoid(signed).mul_(sign).mul_(stepped).mul_(scale)
    grad_node_scores = grad_scores if node_scale is None else grad_scores * node_scale.unsqueeze(1)
    return loss, torch.bmm(grad_scores, nodes), torch.bmm(grad_node_scores.transpose(1, 2), inputs)


def node_step_scale(points: torch.Tensor, on_path: torch.Tensor, inputs_per_path: int, nodes: int) -> torch.Tensor:
    """The factor on each node's step in a batch [n, L]: min(1, NODE_STEP_CAP / k) for a node
    on the paths of k pairs of the batch (`points`, `on_path` [n, L]; each path predicted from
    `inputs_per_path` inputs; `nodes` inner nodes in all)."""
    uses = torch.bincount(points.reshape(-1), weights=on_path.reshape(-1), minlength=nodes) * inputs_per_path
    factor = (NODE_STEP_CAP / uses.clamp(min=NODE_STEP_CAP)).to(on_path.dtype)
    return factor.index_select(0, points.reshape(-1)).view(points.shape)


class HierarchicalSoftmax:
    """Steps the inner-node rows on the targets' Huffman paths (row n of the output table is
    inner node n). Skip-gram's examples are a centre's contexts (`ContextsOfCentre`), each predicting
    the centre's path on its own, so that the path is gathered once for all of them."""

    layouts = {"skipgram": ContextsOfCentre, "cbow": ContextMeans}
    group = 1
    """No draws shared between examples: batches are sliced anywhere, never padded."""

    def __init__(self, counts: np.ndarray, cfg: Word2VecConfig, device: torch.device) -> None:
        tree = huffman_tree(counts)
        self.tree = tuple(torch.from_numpy(array).to(device)
                          for array in (tree.points.astype(np.int32), tree.codes, tree.lengths))
        """The Huffman tree on the device: points [V, depth] as int32 (the C tool's width), codes
        [V, depth] and lengths [V]; 5 bytes per word and level where int64 points and a stored
        float mask took 13 (`paths` builds a batch's mask)."""

    def draw(self, batches: int, rng: np.random.Generator) -> None:
        """Nothing to draw: the paths are fixed by the tree."""
        return None

    def step(self, table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor, size: int, lr: float,
             draws: None) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the output `table` and of `inputs` [n, M, dim] predicting the paths of
        `targets` [n], a node's summed step capped at NODE_STEP_CAP pairs' (`node_step_scale`);
        steps the table's rows, returns (loss per target [n], steps of the inputs [n, M, dim])."""
        points, codes, on_path = self.paths(targets)
        nodes = table.index_select(0, points.view(-1)).view(*points.shape, table.shape[1])
        node_scale = node_step_scale(points, on_path, inputs.shape[1], table.shape[0])
        loss, step_inputs, step_nodes = hs_gradients(inputs, nodes, codes, on_path.unsqueeze(1), -lr, node_scale)
        add_rows(table, points.view(-1), step_nodes.view(-1, table.shape[1]))
        return loss, step_inputs

    def paths(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The Huffman paths of `targets` [n], padded to the tree's depth: inner nodes (int64, for
        gathers and scatters), codes, and 1.0 where a decision exists, 0.0 past a path's end."""
        points, codes, lengths = self.tree
        depth = torch.arange(points.shape[1], device=points.device)
        on_path = (depth < lengths.index_select(0, targets).unsqueeze(1)).float()
        return points.index_select(0, targets).long(), codes.index_select(0, targets), on_path
