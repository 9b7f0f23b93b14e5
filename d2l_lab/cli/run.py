"""`d2l run <experiment>`: one plain command per experiment of the registry.

Each command's config flags are `config_flag(ConfigClass, "dotted.key")`: the name, help and
default come from the config field, the type is the annotation here. Every command also takes
the generic run options of `cli.common`; `run_experiment` composes the config and runs it.
A flag with a closed set of values lists them in --help and completes them (`config_flag`).
Each command's `--help` ends with examples (tests/test_completion.py runs every one of them).
The registry is the only list of experiments: a command is registered under its registry row
(the row's summary is its help), and tests/test_cli_commands.py checks every row has a command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab.cli.common import (ConfigFile, DryRun, Json, OutRoot, PrintConfig, Quiet, Resume, RunName, RunRequest,
                                Sets, run_experiment)
from d2l_lab.cli.flags import config_flag, config_values, device_flag, preset_flag
from d2l_lab.experiments.registry import experiment

app = typer.Typer(help="Train an experiment; every run lands in its own directory under outputs/.",
                  no_args_is_help=True)


EXAMPLES: dict[str, tuple[str, ...]] = {
    "optim": ("d2l run optim --algo adam --lr 0.01",
              "d2l run optim --problem quadratic --algo momentum --lr 0.6 --momentum 0.5",
              "d2l run optim --problem quadratic --coefficients 0.1 100 --algo sgd --lr 0.00999 --steps 200",
              "d2l run optim --preset rmsprop --set train.eval_every=100",
              "d2l run optim --algo adam --lr-find",
              "d2l run optim --problem rosenbrock --algo adam --lr 0.1 --steps 200 --schedule cosine"),
    "word2vec": ("d2l run word2vec --epochs 5",
                 "d2l run word2vec --model cbow --dim 50 --set word2vec.lr_schedule=constant",
                 "d2l run word2vec --workers 2 --device cpu"),
    "fasttext": ("d2l run fasttext --epochs 5",
                 "d2l run fasttext --min-n 3 --max-n 5 --buckets 100000"),
    "glove": ("d2l run glove --epochs 20",
              "d2l run glove --dim 50 --x-max 100 --alpha 0.75"),
    "ppmi-svd": ("d2l run ppmi-svd --dim 100",
                 "d2l run ppmi-svd --window 2 --min-count 10"),
}
"""What each command's `--help` shows last; every one must run (with --dry-run) as shown."""


def _command(function: Callable[..., None]) -> Callable[..., None]:
    """Register `function` as `d2l run <its name, _ written ->` with its registry row's summary and
    its examples."""
    name = function.__name__.replace("_", "-")
    # Rich help joins single newlines into one paragraph: a blank line keeps one example a line.
    epilog = "Examples (add --corpus FILE to train on your own text):\n\n" if name != "optim" else "Examples:\n\n"
    return app.command(name, help=experiment(name).summary, epilog=epilog + "\n\n".join(EXAMPLES[name]))(function)


def _run(name: str, command: Callable[..., None], arguments: dict[str, Any]) -> None:
    request = RunRequest(arguments["preset"], arguments["config"], arguments["set_"], arguments["out"],
                         arguments["name"], arguments["resume"], arguments["quiet"], arguments["json"],
                         arguments["dry_run"], arguments["print_config"])
    run_experiment(name, request, config_values(command, arguments))


OPTIM = experiment("optim").config_class
WORD2VEC = experiment("word2vec").config_class
FASTTEXT = experiment("fasttext").config_class
GLOVE = experiment("glove").config_class
PPMI_SVD = experiment("ppmi-svd").config_class


@_command
def optim(
    algo: Annotated[Optional[str], config_flag(OPTIM, "optimizer.algo")] = None,
    lr: Annotated[Optional[float], config_flag(OPTIM, "optimizer.lr")] = None,
    momentum: Annotated[Optional[float], config_flag(OPTIM, "optimizer.momentum")] = None,
    gamma: Annotated[Optional[float], config_flag(OPTIM, "optimizer.gamma")] = None,
    rho: Annotated[Optional[float], config_flag(OPTIM, "optimizer.rho")] = None,
    beta1: Annotated[Optional[float], config_flag(OPTIM, "optimizer.beta1")] = None,
    beta2: Annotated[Optional[float], config_flag(OPTIM, "optimizer.beta2")] = None,
    momentum_decay: Annotated[Optional[float], config_flag(OPTIM, "optimizer.momentum_decay")] = None,
    eps: Annotated[Optional[float], config_flag(OPTIM, "optimizer.eps")] = None,
    weight_decay: Annotated[Optional[float], config_flag(OPTIM, "optimizer.weight_decay")] = None,
    impl: Annotated[Optional[str], config_flag(OPTIM, "optimizer.impl")] = None,
    schedule: Annotated[Optional[str], config_flag(OPTIM, "schedule.name")] = None,
    problem: Annotated[Optional[str], config_flag(OPTIM, "problem.name")] = None,
    coefficients: Annotated[Optional[tuple[float, float]], config_flag(OPTIM, "problem.coefficients")] = None,
    batch_size: Annotated[Optional[int], config_flag(OPTIM, "train.batch_size")] = None,
    epochs: Annotated[Optional[int], config_flag(OPTIM, "train.epochs")] = None,
    steps: Annotated[Optional[int], config_flag(OPTIM, "train.steps")] = None,
    seed: Annotated[Optional[int], config_flag(OPTIM, "seed")] = None,
    device: Annotated[Optional[str], device_flag(OPTIM)] = None,
    tensorboard: Annotated[Optional[bool], config_flag(OPTIM, "log.tensorboard")] = None,
    lr_find: Annotated[Optional[bool], config_flag(OPTIM, "lr_find")] = None,
    preset: Annotated[Optional[str], preset_flag("optim")] = None,
    config: ConfigFile = None, set_: Sets = None, out: OutRoot = Path("outputs"),
    name: RunName = None, resume: Resume = None, quiet: Quiet = False, json: Json = False, dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    _run("optim", optim, locals())


@_command
def word2vec(
    model: Annotated[Optional[str], config_flag(WORD2VEC, "word2vec.model")] = None,
    loss: Annotated[Optional[str], config_flag(WORD2VEC, "word2vec.loss")] = None,
    dim: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.dim")] = None,
    window: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.window")] = None,
    min_count: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.min_count")] = None,
    epochs: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.epochs")] = None,
    batch_size: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.batch_size")] = None,
    lr: Annotated[Optional[float], config_flag(WORD2VEC, "word2vec.lr")] = None,
    negatives: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.negatives")] = None,
    subsample: Annotated[Optional[float], config_flag(WORD2VEC, "word2vec.subsample")] = None,
    workers: Annotated[Optional[int], config_flag(WORD2VEC, "word2vec.workers")] = None,
    corpus: Annotated[Optional[str], config_flag(WORD2VEC, "corpus")] = None,
    seed: Annotated[Optional[int], config_flag(WORD2VEC, "seed")] = None,
    device: Annotated[Optional[str], device_flag(WORD2VEC)] = None,
    tensorboard: Annotated[Optional[bool], config_flag(WORD2VEC, "log.tensorboard")] = None,
    preset: Annotated[Optional[str], preset_flag("word2vec")] = None,
    config: ConfigFile = None, set_: Sets = None, out: OutRoot = Path("outputs"),
    name: RunName = None, resume: Resume = None, quiet: Quiet = False, json: Json = False, dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    _run("word2vec", word2vec, locals())


@_command
def fasttext(
    dim: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.dim")] = None,
    window: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.window")] = None,
    min_count: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.min_count")] = None,
    epochs: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.epochs")] = None,
    batch_size: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.batch_size")] = None,
    lr: Annotated[Optional[float], config_flag(FASTTEXT, "fasttext.lr")] = None,
    negatives: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.negatives")] = None,
    subsample: Annotated[Optional[float], config_flag(FASTTEXT, "fasttext.subsample")] = None,
    workers: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.workers")] = None,
    buckets: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.buckets")] = None,
    min_n: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.min_n")] = None,
    max_n: Annotated[Optional[int], config_flag(FASTTEXT, "fasttext.max_n")] = None,
    corpus: Annotated[Optional[str], config_flag(FASTTEXT, "corpus")] = None,
    seed: Annotated[Optional[int], config_flag(FASTTEXT, "seed")] = None,
    device: Annotated[Optional[str], device_flag(FASTTEXT)] = None,
    tensorboard: Annotated[Optional[bool], config_flag(FASTTEXT, "log.tensorboard")] = None,
    preset: Annotated[Optional[str], preset_flag("fasttext")] = None,
    config: ConfigFile = None, set_: Sets = None, out: OutRoot = Path("outputs"),
    name: RunName = None, resume: Resume = None, quiet: Quiet = False, json: Json = False, dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    _run("fasttext", fasttext, locals())


@_command
def glove(
    dim: Annotated[Optional[int], config_flag(GLOVE, "glove.dim")] = None,
    window: Annotated[Optional[int], config_flag(GLOVE, "glove.window")] = None,
    min_count: Annotated[Optional[int], config_flag(GLOVE, "glove.min_count")] = None,
    epochs: Annotated[Optional[int], config_flag(GLOVE, "glove.epochs")] = None,
    batch_size: Annotated[Optional[int], config_flag(GLOVE, "glove.batch_size")] = None,
    lr: Annotated[Optional[float], config_flag(GLOVE, "glove.lr")] = None,
    x_max: Annotated[Optional[float], config_flag(GLOVE, "glove.x_max")] = None,
    alpha: Annotated[Optional[float], config_flag(GLOVE, "glove.alpha")] = None,
    workers: Annotated[Optional[int], config_flag(GLOVE, "glove.workers")] = None,
    corpus: Annotated[Optional[str], config_flag(GLOVE, "corpus")] = None,
    seed: Annotated[Optional[int], config_flag(GLOVE, "seed")] = None,
    device: Annotated[Optional[str], device_flag(GLOVE)] = None,
    tensorboard: Annotated[Optional[bool], config_flag(GLOVE, "log.tensorboard")] = None,
    preset: Annotated[Optional[str], preset_flag("glove")] = None,
    config: ConfigFile = None, set_: Sets = None, out: OutRoot = Path("outputs"),
    name: RunName = None, resume: Resume = None, quiet: Quiet = False, json: Json = False, dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    _run("glove", glove, locals())


@_command
def ppmi_svd(
    dim: Annotated[Optional[int], config_flag(PPMI_SVD, "ppmi_svd.dim")] = None,
    window: Annotated[Optional[int], config_flag(PPMI_SVD, "ppmi_svd.window")] = None,
    min_count: Annotated[Optional[int], config_flag(PPMI_SVD, "ppmi_svd.min_count")] = None,
    corpus: Annotated[Optional[str], config_flag(PPMI_SVD, "corpus")] = None,
    seed: Annotated[Optional[int], config_flag(PPMI_SVD, "seed")] = None,
    device: Annotated[Optional[str], device_flag(PPMI_SVD)] = None,
    tensorboard: Annotated[Optional[bool], config_flag(PPMI_SVD, "log.tensorboard")] = None,
    preset: Annotated[Optional[str], preset_flag("ppmi-svd")] = None,
    config: ConfigFile = None, set_: Sets = None, out: OutRoot = Path("outputs"),
    name: RunName = None, resume: Resume = None, quiet: Quiet = False, json: Json = False, dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    _run("ppmi-svd", ppmi_svd, locals())
