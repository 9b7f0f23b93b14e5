"""`d2l data list|fetch`: pretrained vectors for `d2l embed --vectors` and corpora for `--corpus`, fetched
once and cached."""

from __future__ import annotations

from typing import Annotated

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import cli_errors
from d2l_lab.cli.completion import complete_remote

app = typer.Typer(help="Pretrained word vectors and training corpora: list them, or download, verify and cache "
                       "one.",
                  no_args_is_help=True)


@app.command(name="list")
def list_remotes(json: Annotated[bool, typer.Option("--json", help="print one JSON line: name -> where the vectors "
                                                              "come from")] = False) -> None:
    """The vectors and corpora `d2l data fetch` knows, with where they come from."""
    from d2l_lab.datasets.fetch import REMOTES

    if json:
        output.write_json({name: r.__dict__ for name, r in REMOTES.items()})
        return
    for name, remote in REMOTES.items():
        output.write_line(f"{name:16} {remote.description}")


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="e.g. glove.6b.50d or text8 (see `d2l data list`)",
                                        autocompletion=complete_remote)],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Download NAME once (sha1-verified, cached) and print the path of its vectors or corpus file."""
    from d2l_lab.cache import require_cache_dir
    from d2l_lab.cli.terminal import download_bar
    from d2l_lab.datasets.fetch import fetch as fetch_vectors

    with cli_errors():
        cache = require_cache_dir("d2l data fetch")  # a download kept nowhere would be lost at exit
    made = [d for d in (cache, cache / "vectors", cache / "corpora") if not d.exists()]
    try:
        with cli_errors(), download_bar(name, enabled=not quiet) as progress:
            path = fetch_vectors(name, progress=progress)
    except BaseException:
        for folder in reversed(made):  # a failed fetch (offline, bad checksum) leaves nothing behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    output.write_line(str(path))
