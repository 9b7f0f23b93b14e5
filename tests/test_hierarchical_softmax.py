"""Hierarchical softmax: the Huffman tree against hand-worked codes and Huffman's optimum, and
the loss and its hand-derived gradients against autograd and against a normalised distribution."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import torch

from d2l_lab.embeddings.word2vec.hierarchical_softmax import (
    MAX_CODE_LENGTH,
    MAX_EXP,
    NODE_STEP_CAP,
    hs_gradients,
    huffman_tree,
    node_step_scale,
)


def paths(tree) -> list[tuple[list[int], list[int]]]:
    return [(tree.codes[w, :n].tolist(), tree.points[w, :n].tolist()) for w, n in enumerate(tree.lengths)]


def test_codes_of_a_hand_made_count_table():
    """Counts 5, 3, 2, 1 by the C tool's steps: join 1+2 -> node 0 (the 2 takes code 1), then
    3 (leaf) ties node 0's 3 and the node wins -> node 1 = node 0 + word 1 (word 1 takes code 1),
    then 5 + 6 -> root node 2 (node 1 takes code 1). Paths are read from the root down."""
    tree = huffman_tree(np.array([5, 3, 2, 1]))
    assert paths(tree) == [([0], [2]), ([1, 1], [2, 1]), ([1, 0, 1], [2, 1, 0]), ([1, 0, 0], [2, 1, 0])]


def test_words_need_not_be_sorted_by_count():
    tree = huffman_tree(np.array([2, 5, 1, 3]))  # the table above, shuffled: 2->w0, 5->w1, 1->w2, 3->w3
    assert paths(tree) == [([1, 0, 1], [2, 1, 0]), ([0], [2]), ([1, 0, 0], [2, 1, 0]), ([1, 1], [2, 1])]


def huffman_cost(counts: np.ndarray) -> int:
    """Sum of count x code length of an optimal prefix code: the sum of all merged weights."""
    heap = [int(c) for c in counts]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


@pytest.mark.parametrize("seed", range(5))
def test_tree_is_an_optimal_prefix_code_over_inner_nodes(seed):
    rng = np.random.default_rng(seed)
    counts = (rng.zipf(1.3, size=300) + 4).astype(np.int64)
    tree = huffman_tree(counts)
    codes = ["".join(map(str, c)) for c, _ in paths(tree)]
    assert len(set(codes)) == counts.size
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)  # prefix-free
    assert sum(2.0 ** -len(c) for c in codes) == pytest.approx(1.0)  # a full binary tree
    assert int((counts * tree.lengths).sum()) == huffman_cost(counts)  # Huffman's optimum
    assert (tree.points[:, 0] == counts.size - 2).all()  # every path starts at the root
    assert tree.points.max() == counts.size - 2 and tree.points.min() == 0
    # The same inner node always sits at the same depth and is reached by the same code prefix.
    seen: dict[int, str] = {}
    for code, points in paths(tree):
        for depth, node in enumerate(points):
            assert seen.setdefault(node, "".join(map(str, code[:depth]))) == "".join(map(str, code[:depth]))


def test_equal_counts_give_a_balanced_deterministic_tree():
    tree = huffman_tree(np.full(8, 7))
    assert tree.lengths.tolist() == [3] * 8
    assert np.array_equal(huffman_tree(np.full(8, 7)).codes, tree.codes)


def test_too_deep_a_tree_is_refused():
    fibonacci = [1, 1]
    while len(fibonacci) < MAX_CODE_LENGTH + 2:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    with pytest.raises(ValueError, match="deeper than 40"):
        huffman_tree(np.array(fibonacci))
    with pytest.raises(ValueError):
        huffman_tree(np.array([3]))


def batch(tree, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points, codes and mask of the paths to `words`, padded to the longest."""
    points = torch.from_numpy(tree.points)[words]
    codes = torch.from_numpy(tree.codes)[words]
    mask = (torch.arange(points.shape[1]) < torch.from_numpy(tree.lengths)[words].unsqueeze(1)).double()
    return points, codes, mask


def test_loss_is_minus_log_of_a_normalised_distribution():
    """exp(-loss) over every word of the vocabulary sums to 1 for any input vector."""
    torch.manual_seed(0)
    counts = np.array([40, 31, 17, 9, 9, 5, 3, 2, 1])
    tree = huffman_tree(counts)
    nodes = torch.randn(counts.size - 1, 6, dtype=torch.float64)
    words = torch.arange(counts.size)
    points, codes, mask = batch(tree, words)
    for _ in range(3):
        x = torch.randn(6, dtype=torch.float64).expand(counts.size, 1, 6)
        loss, _, _ = hs_gradients(x, nodes[points], codes, mask.unsqueeze(1))
        assert torch.exp(-loss).sum().item() == pytest.approx(1.0, abs=1e-12)


def test_gradients_match_autograd():
    """Three inputs per path (skip-gram's contexts of one centre), some of them missing."""
    torch.manual_seed(1)
    counts = np.random.default_rng(2).integers(1, 100, size=50)
    tree = huffman_tree(counts)
    words = torch.randint(0, 50, (32,))
    points, codes, on_path = batch(tree, words)
    present = (torch.rand(32, 3, 1) < 0.7).double()
    mask = present * on_path.unsqueeze(1)
    inputs = torch.randn(32, 3, 8, dtype=torch.float64, requires_grad=True)
    nodes = (0.3 * torch.randn(32, points.shape[1], 8, dtype=torch.float64)).requires_grad_()
    loss, grad_inputs, grad_nodes = hs_gradients(inputs.detach(), nodes.detach(), codes, mask, scale=-0.5)
    # The C tool's decisions: label 1 - code, -log sigmoid(s) for label 1, -log(1 - sigmoid(s)) for 0.
    scores = torch.einsum("nmd,nld->nml", inputs, nodes)
    assert scores.abs().max() < MAX_EXP  # no decision saturated: every one takes its step
    labels = (1.0 - codes.double()).unsqueeze(1).expand_as(scores)
    reference = torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, weight=mask,
                                                                     reduction="none").sum((1, 2))
    reference.sum().backward()
    torch.testing.assert_close(loss, reference.detach())
    torch.testing.assert_close(grad_inputs, -0.5 * inputs.grad)
    torch.testing.assert_close(grad_nodes, -0.5 * nodes.grad)
    assert (grad_nodes[on_path == 0] == 0).all()  # padding past a path's end takes no step
    assert (grad_inputs[present.squeeze(2) == 0] == 0).all()  # nor does a missing input


def test_a_saturated_decision_takes_no_step_as_in_the_c_tool():
    """|score| >= 6: the C tool and gensim skip the decision; its loss still counts."""
    inputs = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    nodes = torch.tensor([[[7.0, 0.0], [-6.5, 0.0], [5.9, 0.0]]], dtype=torch.float64)
    codes = torch.tensor([[0, 0, 1]])  # the first right, the second and third wrong
    loss, grad_inputs, grad_nodes = hs_gradients(inputs, nodes, codes, torch.ones(1, 1, 3), scale=-1.0)
    softplus = torch.nn.functional.softplus
    expected_loss = softplus(torch.tensor(-7.0)) + softplus(torch.tensor(6.5)) + softplus(torch.tensor(5.9))
    assert loss.item() == pytest.approx(expected_loss.item())
    step = -torch.sigmoid(torch.tensor(5.9, dtype=torch.float64))  # the third decision's alone
    torch.testing.assert_close(grad_nodes[0, :, 0], torch.stack([torch.zeros((), dtype=torch.float64)] * 2 + [step]))
    torch.testing.assert_close(grad_inputs[0, 0], torch.stack([step * 5.9, torch.zeros((), dtype=torch.float64)]))


# The trainer with loss "hs": one step against autograd, and its config (learning and resume:
# test_word2vec.py, for both losses).

import dataclasses  # noqa: E402

from d2l_lab.config.schema import from_dict, to_dict  # noqa: E402
from d2l_lab.embeddings.word2vec.config import Word2VecConfig  # noqa: E402
from d2l_lab.embeddings.word2vec.examples import batches_of_equal_width  # noqa: E402
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer  # noqa: E402
from d2l_lab.errors import UserError  # noqa: E402
from d2l_lab.experiments.word2vec import Word2VecRunConfig  # noqa: E402

from .test_word2vec import topic_corpus  # noqa: E402

HS = Word2VecConfig(loss="hs", dim=16, window=3, min_count=1, subsample=0.0, epochs=3, batch_size=256,
                    lr=0.04, threads=1)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Trainers set the process's torch threads; leave other test files the default."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def hs_trainer(cfg=HS, seed=0):
    return Word2VecTrainer.from_sentences(topic_corpus()[0], cfg, seed, torch.device("cpu"))


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_one_step_is_sgd_on_the_path_loss(model):
    """A batch's step equals -lr times autograd's gradient of the summed path losses. Skip-gram:
    each context word predicts its centre's path (the C tool's and gensim's roles); CBOW: the mean
    of the contexts does, and each context word takes the mean's whole step, as in the C tool."""
    trainer = hs_trainer(dataclasses.replace(HS, model=model))
    trainer.output_table.copy_(torch.randn_like(trainer.output_table) * 0.3)  # zeros would hide the node side
    trainer.input_table.mul_(40)
    data = trainer.draw_chunk(0, 0)
    size = int(data.batch_starts[1])
    if model == "cbow":
        assert size == HS.batch_size
    inputs_table = trainer.input_table.clone().double().requires_grad_()
    output_table = trainer.output_table.clone().double().requires_grad_()
    owner = data.members[:data.member_starts[size]]  # the centre (example) of each context word
    members = data.words[:data.member_starts[size]]
    if model == "skipgram":
        x = inputs_table[members]
        targets = data.targets[owner]
    else:
        mean = torch.zeros(size, HS.dim, dtype=torch.float64).index_add_(0, owner, inputs_table[members])
        x = (mean / torch.bincount(owner, minlength=size).unsqueeze(1)).detach().requires_grad_()
        targets = data.targets[:size]
    points, codes, on_path = trainer.objective.paths(targets)
    scores = (output_table[points] * x.unsqueeze(1)).sum(-1)
    labels = 1.0 - codes.double()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, weight=on_path.double(),
                                                                reduction="sum")
    loss.backward()
    lr = 0.3
    expected_inputs = inputs_table.detach().clone()
    if model == "skipgram":
        expected_inputs -= lr * inputs_table.grad
    else:
        expected_inputs.index_add_(0, members, -lr * x.grad[owner])
    # A node on the paths of k > NODE_STEP_CAP pairs takes NODE_STEP_CAP / k of its summed step.
    pairs_per_node = torch.zeros(len(output_table), dtype=torch.float64).index_add_(0, points.reshape(-1),
                                                                                   on_path.reshape(-1).double())
    assert pairs_per_node.max() > NODE_STEP_CAP  # the cap is at work in this batch
    node_factor = (NODE_STEP_CAP / pairs_per_node.clamp(min=NODE_STEP_CAP)).unsqueeze(1)
    expected_outputs = output_table.detach() - lr * output_table.grad * node_factor
    step_loss, terms = trainer.step(data, 0, lr)
    assert terms == len(x)  # skip-gram: the pairs; CBOW: the centres
    assert step_loss.item() == pytest.approx(loss.item(), rel=1e-5)
    torch.testing.assert_close(trainer.input_table.double(), expected_inputs, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(trainer.output_table.double(), expected_outputs, rtol=1e-4, atol=1e-5)


def batch_terms(data, b):
    """The loss terms of batch b of a chunk grouped by centre: its (centre, context) pairs."""
    start, stop = data.batch_starts[b], data.batch_starts[b + 1]
    return int(data.member_starts[stop] - data.member_starts[start])


def test_node_steps_are_capped_at_node_step_cap_pairs():
    """Two paths of 3 decisions, each predicted from 10 inputs; the second path stops after 2:
    nodes 0 and 1 serve 20 pairs (16/20 of their step), node 2 serves 10 (its whole step)."""
    points = torch.tensor([[0, 1, 2], [0, 1, 3]])
    on_path = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    factor = node_step_scale(points, on_path, inputs_per_path=10, nodes=4)
    assert NODE_STEP_CAP == 16
    torch.testing.assert_close(factor, torch.tensor([[0.8, 0.8, 1.0], [0.8, 0.8, 1.0]]))


def test_batches_of_equal_width_on_a_hand_made_table():
    """Widths 2 and 4 at 8 terms per batch: width-2 examples go 4 to a batch, width-4 ones 2 to
    a batch, each width in the order it came, the last batch of a width short; batches shuffled."""
    examples = np.arange(10, 20)
    widths = np.array([2, 4, 2, 2, 4, 2, 2, 4, 4, 4])
    ordered, starts = batches_of_equal_width(examples, widths, 8, np.random.default_rng(0))
    batches = {tuple(ordered[starts[b]:starts[b + 1]]) for b in range(starts.size - 1)}
    assert batches == {(10, 12, 13, 15), (16,), (11, 14), (17, 18), (19,)}
    assert sorted(ordered) == list(examples) and starts[0] == 0 and starts[-1] == examples.size
    orders = {tuple(batches_of_equal_width(examples, widths, 8, np.random.default_rng(seed))[0]) for seed in range(20)}
    assert len(orders) > 10  # the batch order is drawn, not fixed


def test_skipgram_batches_hold_centres_of_one_width_and_about_batch_size_pairs():
    data = hs_trainer().draw_chunk(0, 0)
    widths = np.diff(data.member_starts)
    terms = [batch_terms(data, b) for b in range(data.batches)]
    short = 0
    for b in range(data.batches):
        lo, hi = data.batch_starts[b], data.batch_starts[b + 1]
        width = widths[lo]
        assert (widths[lo:hi] == width).all()
        short += terms[b] < HS.batch_size - width  # the last batch of each width only
    assert short <= len(np.unique(widths))
    assert sum(terms) == data.counts["pairs"]
    assert {int(widths[data.batch_starts[b]]) for b in range(min(8, data.batches))} != {int(widths[0])}  # widths mixed


def test_subsampling_lr_and_epochs_default_by_loss_and_are_saved():
    from d2l_lab.config.loading import compose

    def saved(**flags):
        cfg = to_dict(compose(Word2VecRunConfig, "word2vec", flags=flags))["word2vec"]
        return cfg["subsample"], cfg["lr"], cfg["epochs"]

    assert saved() == (1e-4, 0.05, 15)
    assert saved(**{"word2vec.loss": "hs"}) == (1e-3, 0.035, 10)
    assert saved(**{"word2vec.loss": "softmax"}) == (1e-4, 0.05, 5)
    set_by_hand = {"word2vec.subsample": 1e-4, "word2vec.lr": 0.05, "word2vec.epochs": 15}
    assert saved(**{"word2vec.loss": "hs"}, **set_by_hand) == (1e-4, 0.05, 15)
    built_in_code = dataclasses.replace(HS, subsample=None, lr=None, epochs=None)
    trainer = Word2VecTrainer.from_sentences(topic_corpus()[0], built_in_code, 0, torch.device("cpu"))
    assert (trainer.cfg.subsample, trainer.cfg.lr, trainer.cfg.epochs) == (1e-3, 0.035, 10)  # resolved too


def test_hs_config_saves_what_it_uses():
    hs = to_dict(from_dict(Word2VecRunConfig, {"word2vec": {"loss": "hs"}}))["word2vec"]
    assert hs["loss"] == "hs" and not {"negatives", "shared_negatives", "negative_group"} & set(hs)
    ns = to_dict(from_dict(Word2VecRunConfig, {}))["word2vec"]
    assert "loss" not in ns and ns["negatives"] == 5  # negative-sampling configs (and hashes) as before
    with pytest.raises(UserError, match="loss 'hs' does not use word2vec.negatives; drop word2vec.negatives, or change the loss"):
        from_dict(Word2VecRunConfig, {"word2vec": {"loss": "hs", "negatives": 10}})
    softmax = to_dict(from_dict(Word2VecRunConfig, {"word2vec": {"loss": "softmax"}}))["word2vec"]
    assert softmax["loss"] == "softmax" and not {"negatives", "shared_negatives", "negative_group"} & set(softmax)
    with pytest.raises(UserError, match="loss 'softmax' does not use word2vec.negative_group"):
        from_dict(Word2VecRunConfig, {"word2vec": {"loss": "softmax", "negative_group": 8}})
    from d2l_lab.experiments.fasttext import FastTextRunConfig

    with pytest.raises(UserError, match="config key 'fasttext.loss' must be one of ns; got 'hs'"):
        from_dict(FastTextRunConfig, {"fasttext": {"loss": "hs"}})
