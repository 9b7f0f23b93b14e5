"""`d2l data list|fetch`: pretrained vectors for `d2l embed --vectors`, fetched once and cached."""

from __future__ import annotations

import json as json_module
from typing import Annotated

import typer

from d2l_lab.cli.common import Json, cli_errors

app = typer.Typer(help="Pretrained word vectors: list them, or download, verify and cache one.",
                  no_args_is_help=True)


@app.command(name="list")
def list_remotes(json: Json = False) -> None:
    """The vectors `d2l data fetch` knows, with where they come from."""
    from d2l_lab.datasets.fetch import REMOTES

    if json:
        typer.echo(json_module.dumps({name: r.__dict__ for name, r in REMOTES.items()}, separators=(",", ":")))
        return
    for name, remote in REMOTES.items():
        typer.echo(f"{name:16} {remote.description}")


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="e.g. glove.6b.50d (see `d2l data list`)")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Download NAME once (sha1-verified, cached) and print the path of its vectors file."""
    from d2l_lab.datasets.fetch import fetch as fetch_vectors

    with cli_errors():
        typer.echo(str(fetch_vectors(name, progress=not quiet)))
