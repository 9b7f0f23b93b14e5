"""The fast word2vec engine against the book's model (`embeddings.reference`) under autograd:
same loss, same gradients, same SGD update on the same batch."""

import dataclasses

import pytest
import torch

from d2l_lab.embeddings.reference import CBOW, SkipGram, sigmoid_bce_loss
from d2l_lab.embeddings.word2vec import softmax
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.negative_sampling import sgns_gradients
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer

CPU = torch.device("cpu")
CFG = Word2VecConfig(dim=6, window=3, min_count=1, subsample=0.0, batch_size=64, negative_group=16,
                     shared_negatives=4, threads=1)
LR = 0.3


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def corpus(sentences=21, length=8, words=24):
    generator = torch.Generator().manual_seed(0)
    return [[f"w{i}" for i in torch.randint(words, (length,), generator=generator).tolist()]
            for _ in range(sentences)]


def engine(model, loss="ns"):
    """A float64 engine with tables far from their initial values (scores far from 0)."""
    trainer = Word2VecTrainer.from_sentences(corpus(), dataclasses.replace(CFG, model=model, loss=loss), 0, CPU)
    trainer.input_table = torch.randn(trainer.input_table.shape, generator=torch.Generator().manual_seed(1),
                                      dtype=torch.float64)
    trainer.output_table = torch.randn(trainer.output_table.shape, generator=torch.Generator().manual_seed(2),
                                       dtype=torch.float64)
    return trainer


def reference_model(cls, trainer):
    model = cls(*trainer.input_table.shape).double()
    model.embed_v.weight.data.copy_(trainer.input_table)
    model.embed_u.weight.data.copy_(trainer.output_table)
    return model


def last_batch(trainer):
    """The epoch's last batch, which ends in a partial group: padding is exercised too."""
    data = trainer.draw_chunk(0, 0)
    last = data.batches - 1
    start, stop = last * CFG.batch_size, data.targets.numel()
    assert (stop - start) % CFG.negative_group, "the corpus must leave a partial group"
    return data, last, start, stop


def noise_labels_weights(data, last, pairs, positives):
    """Each engine example as the book's: its true word(s) then its group's S shared noise words,
    labels 1/0, the noise words weighted K/S (K noise words in expectation)."""
    noise = data.draws[last][torch.arange(pairs) // CFG.negative_group]  # [pairs, S]
    labels = torch.cat([torch.ones(pairs, positives), torch.zeros(pairs, CFG.shared_negatives)], 1).double()
    weights = torch.cat([torch.ones(pairs, positives), torch.full((pairs, CFG.shared_negatives),
                                                                 CFG.negatives / CFG.shared_negatives)], 1).double()
    return noise, labels, weights


def test_sgns_gradients_are_the_books_loss_and_its_autograd_gradients():
    """Per pair, `sgns_gradients` is the book's masked `SigmoidBCELoss` over [context, noise...]."""
    generator = torch.Generator().manual_seed(0)
    groups, group, shared, dim, weight = 3, 4, 5, 6, 5 / 5
    tensors = [torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
               for shape in ((groups, group, dim), (groups, group, dim), (groups, shared, dim))]
    inputs, targets, noise = tensors
    mask = torch.ones(groups, group, dtype=torch.float64)
    mask[-1, -2:] = 0  # padding pairs
    outputs = torch.cat([targets.unsqueeze(2), noise.unsqueeze(1).expand(-1, group, -1, -1)], 2)
    scores = (outputs @ inputs.unsqueeze(-1)).reshape(groups * group, 1, 1 + shared)
    labels = torch.zeros(groups * group, 1 + shared, dtype=torch.float64)
    labels[:, 0] = 1
    weights = torch.full_like(labels, weight)
    weights[:, 0] = 1
    reference = sigmoid_bce_loss(scores, labels, mask.reshape(-1, 1).expand_as(labels), weights)
    reference.sum().backward()
    loss, *grads = sgns_gradients(*(t.detach() for t in tensors), weight, mask, scale=-0.5)
    torch.testing.assert_close(loss.reshape(-1), reference.detach(), rtol=1e-12, atol=1e-12)
    for grad, tensor in zip(grads, tensors):
        torch.testing.assert_close(grad, -0.5 * tensor.grad, rtol=1e-12, atol=1e-12)


def test_a_skipgram_step_is_sgd_on_the_books_skipgram_loss():
    """The whole engine step (gathers, shared noise, padding, repeated rows summed) equals one SGD
    step on `SkipGram` + `sigmoid_bce_loss` differentiated by autograd, the padding pairs of the
    last group given mask 0 as the book masks padded entries."""
    trainer = engine("skipgram")
    model = reference_model(SkipGram, trainer)
    data, last, start, stop = last_batch(trainer)
    pairs = stop - start
    padded = -(-pairs // CFG.negative_group) * CFG.negative_group
    centres = torch.cat([data.words[start:stop], torch.zeros(padded - pairs, dtype=torch.long)])
    contexts = torch.cat([data.targets[start:stop], torch.zeros(padded - pairs, dtype=torch.long)])
    noise, labels, weights = noise_labels_weights(data, last, padded, positives=1)
    mask = torch.ones_like(labels)
    mask[pairs:] = 0
    loss = sigmoid_bce_loss(model(centres.unsqueeze(1), torch.cat([contexts.unsqueeze(1), noise], 1)),
                            labels, mask, weights).sum()
    loss.backward()
    step_loss, examples = trainer.step(data, last, LR)
    assert examples == pairs
    torch.testing.assert_close(step_loss, loss.detach(), rtol=1e-12, atol=0)
    for table, parameter in ((trainer.input_table, model.embed_v.weight), (trainer.output_table, model.embed_u.weight)):
        torch.testing.assert_close(table, parameter.detach() - LR * parameter.grad, rtol=1e-12, atol=1e-12)


def test_a_cbow_step_gives_each_context_word_the_means_full_step():
    """CBOW against `CBOW` under autograd: the output table takes exactly SGD's step; each context
    vector takes the step of its example's mean, n times its exact (1/n) gradient, the C tool's
    and gensim's rule, documented in `embeddings.word2vec`."""
    trainer = engine("cbow")
    model = reference_model(CBOW, trainer)
    data, last, start, stop = last_batch(trainer)
    examples = stop - start
    starts = data.member_starts[start:stop + 1]
    sizes = torch.from_numpy(starts[1:] - starts[:-1])
    contexts = torch.zeros(examples, int(sizes.max()), dtype=torch.long)
    context_mask = torch.zeros(examples, int(sizes.max()), dtype=torch.float64)
    for e in range(examples):
        contexts[e, :sizes[e]] = data.words[starts[e]:starts[e + 1]]
        context_mask[e, :sizes[e]] = 1
    noise, labels, weights = noise_labels_weights(data, last, examples, positives=1)
    scores = model(contexts, context_mask, torch.cat([data.targets[start:stop].unsqueeze(1), noise], 1))
    losses = sigmoid_bce_loss(scores, labels, torch.ones_like(labels), weights)
    (exact_input_grad,) = torch.autograd.grad(losses.sum(), model.embed_v.weight, retain_graph=True)
    (full_step_input_grad,) = torch.autograd.grad((losses * sizes).sum(), model.embed_v.weight, retain_graph=True)
    (output_grad,) = torch.autograd.grad(losses.sum(), model.embed_u.weight)
    before = model.embed_v.weight.detach()
    step_loss, done = trainer.step(data, last, LR)
    assert done == examples
    torch.testing.assert_close(step_loss, losses.sum().detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(trainer.output_table, model.embed_u.weight.detach() - LR * output_grad,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(trainer.input_table, before - LR * full_step_input_grad, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(trainer.input_table, before - LR * exact_input_grad)  # sizes > 1 occur


@pytest.mark.parametrize("block_scores", [softmax.BLOCK_SCORES, 50])
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_a_full_softmax_step_is_sgd_on_the_books_softmax_loss(model, block_scores, monkeypatch):
    """The book's first definition (15.1): -log softmax over the whole vocabulary of the scores
    of `SkipGram` / `CBOW`, differentiated by autograd. Skip-gram's step is exactly SGD on it;
    CBOW's context words each take their mean's whole step, as with the other losses. Scored in
    blocks of a few examples too (`BLOCK_SCORES`), which must change nothing but rounding."""
    monkeypatch.setattr(softmax, "BLOCK_SCORES", block_scores)
    trainer = engine(model, loss="softmax")
    cls = SkipGram if model == "skipgram" else CBOW
    model_ = reference_model(cls, trainer)
    data = trainer.draw_chunk(0, 0)
    last = data.batches - 1
    start, stop = int(data.batch_starts[last]), int(data.batch_starts[last + 1])
    examples = stop - start
    vocab = torch.arange(len(trainer.vocab)).expand(examples, -1)
    if model == "skipgram":
        scores = model_(data.words[start:stop].unsqueeze(1), vocab)
        sizes = torch.ones(examples, dtype=torch.float64)
    else:
        starts = data.member_starts[start:stop + 1]
        sizes = torch.from_numpy(starts[1:] - starts[:-1]).double()
        contexts = torch.zeros(examples, int(sizes.max()), dtype=torch.long)
        context_mask = torch.zeros(examples, int(sizes.max()), dtype=torch.float64)
        for e in range(examples):
            contexts[e, :int(sizes[e])] = data.words[starts[e]:starts[e + 1]]
            context_mask[e, :int(sizes[e])] = 1
        scores = model_(contexts, context_mask, vocab)
    losses = torch.nn.functional.cross_entropy(scores.squeeze(1), data.targets[start:stop], reduction="none")
    (input_grad,) = torch.autograd.grad((losses * sizes).sum(), model_.embed_v.weight, retain_graph=True)
    (output_grad,) = torch.autograd.grad(losses.sum(), model_.embed_u.weight)
    before = [model_.embed_v.weight.detach(), model_.embed_u.weight.detach()]
    step_loss, terms = trainer.step(data, last, LR)
    assert terms == examples
    torch.testing.assert_close(step_loss, losses.sum().detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(trainer.input_table, before[0] - LR * input_grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(trainer.output_table, before[1] - LR * output_grad, rtol=1e-12, atol=1e-12)
    assert (output_grad != 0).all()  # every output row moves: the cost the approximations avoid
