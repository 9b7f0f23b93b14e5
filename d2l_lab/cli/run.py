"""`d2l run <experiment>`: typed flags mirror config keys; the config machinery does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from d2l_lab.cli.common import (ConfigFile, DryRun, Json, OutRoot, Preset, PrintConfig, Quiet, Resume, RunName,
                                RunRequest, Sets, flag_help, run_experiment)
from d2l_lab.experiments.fasttext.config import FastTextRunConfig
from d2l_lab.experiments.glove.config import GloveRunConfig
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.experiments.word2vec.config import Word2VecRunConfig

app = typer.Typer(help="Train an experiment; every run lands in its own directory under outputs/.",
                  no_args_is_help=True)


def _flag(config_class: type, dotted: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=flag_help(config_class, dotted), show_default=False)


def _optim_flag(dotted: str, *names: str) -> typer.models.OptionInfo:
    return _flag(OptimRunConfig, dotted, *names)


def _w2v_flag(dotted: str, *names: str) -> typer.models.OptionInfo:
    return _flag(Word2VecRunConfig, dotted, *names)


def _glove_flag(dotted: str, *names: str) -> typer.models.OptionInfo:
    return _flag(GloveRunConfig, dotted, *names)


def _ft_flag(dotted: str, *names: str) -> typer.models.OptionInfo:
    return _flag(FastTextRunConfig, dotted, *names)


@app.command()
def optim(
    algo: Annotated[Optional[str], _optim_flag("optimizer.algo", "--algo")] = None,
    lr: Annotated[Optional[float], _optim_flag("optimizer.lr", "--lr")] = None,
    momentum: Annotated[Optional[float], _optim_flag("optimizer.momentum", "--momentum")] = None,
    gamma: Annotated[Optional[float], _optim_flag("optimizer.gamma", "--gamma")] = None,
    rho: Annotated[Optional[float], _optim_flag("optimizer.rho", "--rho")] = None,
    beta1: Annotated[Optional[float], _optim_flag("optimizer.beta1", "--beta1")] = None,
    beta2: Annotated[Optional[float], _optim_flag("optimizer.beta2", "--beta2")] = None,
    eps: Annotated[Optional[float], _optim_flag("optimizer.eps", "--eps")] = None,
    weight_decay: Annotated[Optional[float], _optim_flag("optimizer.weight_decay", "--weight-decay")] = None,
    impl: Annotated[Optional[str], _optim_flag("optimizer.impl", "--impl")] = None,
    schedule: Annotated[Optional[str], _optim_flag("schedule.name", "--schedule")] = None,
    problem: Annotated[Optional[str], _optim_flag("problem.name", "--problem")] = None,
    batch_size: Annotated[Optional[int], _optim_flag("train.batch_size", "--batch-size")] = None,
    epochs: Annotated[Optional[int], _optim_flag("train.epochs", "--epochs")] = None,
    steps: Annotated[Optional[int], _optim_flag("train.steps", "--steps")] = None,
    seed: Annotated[Optional[int], _optim_flag("seed", "--seed")] = None,
    device: Annotated[Optional[str], _optim_flag("device", "--device")] = None,
    preset: Preset = None,
    config: ConfigFile = None,
    set_: Sets = None,
    out: OutRoot = Path("outputs"),
    name: RunName = None,
    resume: Resume = None,
    quiet: Quiet = False,
    json: Json = False,
    dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    """Optimization algorithms on a 2-D surface or on airfoil linear regression (book ch. 12)."""
    flags = {
        "optimizer.algo": algo, "optimizer.lr": lr, "optimizer.momentum": momentum, "optimizer.gamma": gamma,
        "optimizer.rho": rho, "optimizer.beta1": beta1, "optimizer.beta2": beta2, "optimizer.eps": eps,
        "optimizer.weight_decay": weight_decay, "optimizer.impl": impl, "schedule.name": schedule,
        "problem.name": problem, "train.batch_size": batch_size, "train.epochs": epochs, "train.steps": steps,
        "seed": seed, "device": device,
    }
    request = RunRequest(preset, config, set_, out, name, resume, quiet, json, dry_run, print_config)
    run_experiment("optim", request, flags)


@app.command()
def word2vec(
    model: Annotated[Optional[str], _w2v_flag("word2vec.model", "--model")] = None,
    dim: Annotated[Optional[int], _w2v_flag("word2vec.dim", "--dim")] = None,
    window: Annotated[Optional[int], _w2v_flag("word2vec.window", "--window")] = None,
    negatives: Annotated[Optional[int], _w2v_flag("word2vec.negatives", "--negatives")] = None,
    min_count: Annotated[Optional[int], _w2v_flag("word2vec.min_count", "--min-count")] = None,
    subsample: Annotated[Optional[float], _w2v_flag("word2vec.subsample", "--subsample")] = None,
    epochs: Annotated[Optional[int], _w2v_flag("word2vec.epochs", "--epochs")] = None,
    batch_size: Annotated[Optional[int], _w2v_flag("word2vec.batch_size", "--batch-size")] = None,
    lr: Annotated[Optional[float], _w2v_flag("word2vec.lr", "--lr")] = None,
    corpus: Annotated[Optional[str], _w2v_flag("corpus", "--corpus")] = None,
    seed: Annotated[Optional[int], _w2v_flag("seed", "--seed")] = None,
    device: Annotated[Optional[str], _w2v_flag("device", "--device")] = None,
    preset: Preset = None,
    config: ConfigFile = None,
    set_: Sets = None,
    out: OutRoot = Path("outputs"),
    name: RunName = None,
    resume: Resume = None,
    quiet: Quiet = False,
    json: Json = False,
    dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    """word2vec (skip-gram or CBOW, negative sampling) on the Penn Treebank or --corpus (book 15.1-15.4)."""
    flags = {
        "word2vec.model": model, "word2vec.dim": dim, "word2vec.window": window, "word2vec.negatives": negatives,
        "word2vec.min_count": min_count, "word2vec.subsample": subsample, "word2vec.epochs": epochs,
        "word2vec.batch_size": batch_size, "word2vec.lr": lr, "corpus": corpus, "seed": seed, "device": device,
    }
    request = RunRequest(preset, config, set_, out, name, resume, quiet, json, dry_run, print_config)
    run_experiment("word2vec", request, flags)


@app.command()
def glove(
    dim: Annotated[Optional[int], _glove_flag("glove.dim", "--dim")] = None,
    window: Annotated[Optional[int], _glove_flag("glove.window", "--window")] = None,
    min_count: Annotated[Optional[int], _glove_flag("glove.min_count", "--min-count")] = None,
    x_max: Annotated[Optional[float], _glove_flag("glove.x_max", "--x-max")] = None,
    alpha: Annotated[Optional[float], _glove_flag("glove.alpha", "--alpha")] = None,
    epochs: Annotated[Optional[int], _glove_flag("glove.epochs", "--epochs")] = None,
    batch_size: Annotated[Optional[int], _glove_flag("glove.batch_size", "--batch-size")] = None,
    lr: Annotated[Optional[float], _glove_flag("glove.lr", "--lr")] = None,
    corpus: Annotated[Optional[str], _glove_flag("corpus", "--corpus")] = None,
    seed: Annotated[Optional[int], _glove_flag("seed", "--seed")] = None,
    device: Annotated[Optional[str], _glove_flag("device", "--device")] = None,
    preset: Preset = None,
    config: ConfigFile = None,
    set_: Sets = None,
    out: OutRoot = Path("outputs"),
    name: RunName = None,
    resume: Resume = None,
    quiet: Quiet = False,
    json: Json = False,
    dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    """GloVe from weighted co-occurrence counts on the Penn Treebank or --corpus (book 15.5)."""
    flags = {
        "glove.dim": dim, "glove.window": window, "glove.min_count": min_count, "glove.x_max": x_max,
        "glove.alpha": alpha, "glove.epochs": epochs, "glove.batch_size": batch_size, "glove.lr": lr,
        "corpus": corpus, "seed": seed, "device": device,
    }
    request = RunRequest(preset, config, set_, out, name, resume, quiet, json, dry_run, print_config)
    run_experiment("glove", request, flags)


@app.command()
def fasttext(
    buckets: Annotated[Optional[int], _ft_flag("fasttext.buckets", "--buckets")] = None,
    min_n: Annotated[Optional[int], _ft_flag("fasttext.min_n", "--min-n")] = None,
    max_n: Annotated[Optional[int], _ft_flag("fasttext.max_n", "--max-n")] = None,
    dim: Annotated[Optional[int], _ft_flag("fasttext.dim", "--dim")] = None,
    window: Annotated[Optional[int], _ft_flag("fasttext.window", "--window")] = None,
    negatives: Annotated[Optional[int], _ft_flag("fasttext.negatives", "--negatives")] = None,
    min_count: Annotated[Optional[int], _ft_flag("fasttext.min_count", "--min-count")] = None,
    subsample: Annotated[Optional[float], _ft_flag("fasttext.subsample", "--subsample")] = None,
    epochs: Annotated[Optional[int], _ft_flag("fasttext.epochs", "--epochs")] = None,
    batch_size: Annotated[Optional[int], _ft_flag("fasttext.batch_size", "--batch-size")] = None,
    lr: Annotated[Optional[float], _ft_flag("fasttext.lr", "--lr")] = None,
    corpus: Annotated[Optional[str], _ft_flag("corpus", "--corpus")] = None,
    seed: Annotated[Optional[int], _ft_flag("seed", "--seed")] = None,
    device: Annotated[Optional[str], _ft_flag("device", "--device")] = None,
    preset: Preset = None,
    config: ConfigFile = None,
    set_: Sets = None,
    out: OutRoot = Path("outputs"),
    name: RunName = None,
    resume: Resume = None,
    quiet: Quiet = False,
    json: Json = False,
    dry_run: DryRun = False,
    print_config: PrintConfig = False,
) -> None:
    """fastText: skip-gram over character n-gram vectors, which also embed unseen words (book 15.6)."""
    flags = {
        "fasttext.buckets": buckets, "fasttext.min_n": min_n, "fasttext.max_n": max_n, "fasttext.dim": dim,
        "fasttext.window": window, "fasttext.negatives": negatives, "fasttext.min_count": min_count,
        "fasttext.subsample": subsample, "fasttext.epochs": epochs, "fasttext.batch_size": batch_size,
        "fasttext.lr": lr, "corpus": corpus, "seed": seed, "device": device,
    }
    request = RunRequest(preset, config, set_, out, name, resume, quiet, json, dry_run, print_config)
    run_experiment("fasttext", request, flags)
