"""`d2l run <experiment>`: one command per experiment, built from a table of typed flags that
mirror config keys (`--lr` is `optimizer.lr` for optim, `word2vec.lr` for word2vec); the config
machinery does the rest. Every command also takes the generic run options of `cli.common`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab.cli.common import (ConfigFile, DryRun, Json, OutRoot, Preset, PrintConfig, Quiet, Resume, RunName,
                                RunRequest, Sets, flag_help, run_experiment)
from d2l_lab.experiments.fasttext.config import FastTextRunConfig
from d2l_lab.experiments.glove.config import GloveRunConfig
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.experiments.word2vec.config import Word2VecRunConfig

app = typer.Typer(help="Train an experiment; every run lands in its own directory under outputs/.",
                  no_args_is_help=True)


@dataclass(frozen=True)
class Flag:
    option: str
    key: str
    type: type

    @property
    def parameter(self) -> str:
        return self.option.lstrip("-").replace("-", "_")


def _flags(section: str, *names: tuple[str, type]) -> list[Flag]:
    """Flags for keys of one config section: `--min-count` -> `section.min_count`."""
    return [Flag(f"--{name}", f"{section}.{name.replace('-', '_')}", kind) for name, kind in names]


RUN_FLAGS = [Flag("--corpus", "corpus", str), Flag("--seed", "seed", int), Flag("--device", "device", str)]
EMBEDDING_FLAGS = (("dim", int), ("window", int), ("min-count", int), ("epochs", int), ("batch-size", int),
                   ("lr", float))
SKIPGRAM_FLAGS = (*EMBEDDING_FLAGS, ("negatives", int), ("subsample", float))

OPTIM_FLAGS = [
    *_flags("optimizer", ("algo", str), ("lr", float), ("momentum", float), ("gamma", float), ("rho", float),
            ("beta1", float), ("beta2", float), ("eps", float), ("weight-decay", float), ("impl", str)),
    Flag("--schedule", "schedule.name", str), Flag("--problem", "problem.name", str),
    *_flags("train", ("batch-size", int), ("epochs", int), ("steps", int)),
    Flag("--seed", "seed", int), Flag("--device", "device", str),
]

COMMANDS: dict[str, tuple[type, list[Flag], str]] = {
    "optim": (OptimRunConfig, OPTIM_FLAGS,
              "Optimization algorithms on a 2-D surface or on airfoil linear regression (book ch. 12)."),
    "word2vec": (Word2VecRunConfig, [*_flags("word2vec", ("model", str), *SKIPGRAM_FLAGS), *RUN_FLAGS],
                 "word2vec (skip-gram or CBOW, negative sampling) on the Penn Treebank or --corpus (book 15.1-15.4)."),
    "glove": (GloveRunConfig, [*_flags("glove", *EMBEDDING_FLAGS, ("x-max", float), ("alpha", float)), *RUN_FLAGS],
              "GloVe from weighted co-occurrence counts on the Penn Treebank or --corpus (book 15.5)."),
    "fasttext": (FastTextRunConfig, [*_flags("fasttext", *SKIPGRAM_FLAGS, ("buckets", int), ("min-n", int),
                                             ("max-n", int)), *RUN_FLAGS],
                 "fastText: skip-gram over character n-gram vectors, which also embed unseen words (book 15.6)."),
}

_RUN_OPTIONS: list[tuple[str, Any, Any]] = [
    ("preset", Preset, None), ("config", ConfigFile, None), ("set_", Sets, None), ("out", OutRoot, Path("outputs")),
    ("name", RunName, None), ("resume", Resume, None), ("quiet", Quiet, False), ("json", Json, False),
    ("dry_run", DryRun, False), ("print_config", PrintConfig, False),
]


def _register(experiment: str, config_class: type, flags: list[Flag], doc: str) -> None:
    """Add `d2l run <experiment>` with typed flags plus the generic run options."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(flag.parameter, keyword, default=None, annotation=Annotated[
            Optional[flag.type], typer.Option(flag.option, help=flag_help(config_class, flag.key), show_default=False)])
        for flag in flags
    ] + [inspect.Parameter(name, keyword, default=default, annotation=kind) for name, kind, default in _RUN_OPTIONS]

    def command(**values: Any) -> None:
        request = RunRequest(values["preset"], values["config"], values["set_"], values["out"], values["name"],
                             values["resume"], values["quiet"], values["json"], values["dry_run"],
                             values["print_config"])
        run_experiment(experiment, request, {flag.key: values[flag.parameter] for flag in flags})

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = doc
    command.__name__ = experiment
    app.command(name=experiment)(command)


for _experiment, (_config_class, _flag_list, _doc) in COMMANDS.items():
    _register(_experiment, _config_class, _flag_list, _doc)
