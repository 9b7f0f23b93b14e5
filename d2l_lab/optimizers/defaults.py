"""The book's learning rates and epsilons per algorithm, kept torch-free for the CLI.

One table shared by `OptimizerConfig.resolved()` and the optimizer constructors, so a bare
`Adam(params)` and `d2l run optim --algo adam` start from the same numbers (d2l.ai chapter 12).
"""

from __future__ import annotations

# Chapter 12's training calls: train_sgd(.05, 10), train_momentum(0.02, 0.5), AdaGrad 0.1,
# RMSProp 0.01, Adam 0.01. AdaDelta has no learning rate in the book; torch's lr multiplies the
# step, so 1.0 is the book's algorithm. AdamW is not in the book: it shares Adam's.
BOOK_LR: dict[str, float] = {
    "sgd": 0.05,
    "momentum": 0.02,
    "nesterov": 0.02,
    "adagrad": 0.1,
    "rmsprop": 0.01,
    "adadelta": 1.0,
    "adam": 0.01,
    "adamw": 0.01,
}

# The eps hard-coded in the book's from-scratch code; plain and momentum SGD have none.
BOOK_EPS: dict[str, float] = {
    "adagrad": 1e-6,
    "rmsprop": 1e-6,
    "adadelta": 1e-5,
    "adam": 1e-6,
    "adamw": 1e-6,
}
