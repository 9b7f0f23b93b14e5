"""`d2l data list|fetch`: pretrained vectors for `d2l embed --vectors`, corpora for `--corpus` and the
evaluation sets that are not bundled (`d2l embed eval --set NAME`), fetched once, verified and cached."""

from __future__ import annotations

from typing import Annotated

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import cli_errors
from d2l_lab.cli.completion import complete_remote

app = typer.Typer(help="Pretrained word vectors, training corpora and evaluation sets: list them, or download, "
                       "verify and cache one.",
                  no_args_is_help=True)


@app.command(name="list")
def list_remotes(json: Annotated[bool, typer.Option("--json", help="print one JSON line: name -> where it comes "
                                                              "from")] = False) -> None:
    """The vectors, corpora and evaluation sets `d2l data fetch` knows, with where they come from
    (SOURCES.md gives each one's licence)."""
    from d2l_lab.datasets.eval_downloads import EVAL_DOWNLOADS
    from d2l_lab.datasets.fetch import REMOTES, RemoteVectors

    if json:
        output.write_json({name: r.__dict__ for name, r in (*REMOTES.items(), *EVAL_DOWNLOADS.items())})
        return
    output.write_line("vectors (`d2l embed ... --vectors PATH`):")
    for name, remote in REMOTES.items():
        if isinstance(remote, RemoteVectors):
            output.write_line(f"  {name:16} {remote.description}")
    output.write_line("corpora (`d2l run word2vec --corpus PATH`):")
    for name, remote in REMOTES.items():
        if not isinstance(remote, RemoteVectors):
            output.write_line(f"  {name:16} {remote.description}")
    output.write_line("evaluation sets (`d2l embed eval --set NAME`):")
    for name, eval_set in EVAL_DOWNLOADS.items():
        output.write_line(f"  {name:16} {eval_set.description}")


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="e.g. glove.6b.50d, text8 or men3k (see `d2l data list`)",
                                        autocompletion=complete_remote)],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Download NAME once (checksum-verified, cached) and print only the path of its file on stdout."""
    from d2l_lab.cache import require_cache_dir
    from d2l_lab.cli.terminal import download_bar
    from d2l_lab.datasets.eval_downloads import EVAL_DOWNLOADS, fetch_eval_set
    from d2l_lab.datasets.fetch import fetch as fetch_vectors

    with cli_errors():
        cache = require_cache_dir("d2l data fetch")  # a download kept nowhere would be lost at exit
    made = [d for d in (cache, cache / "vectors", cache / "corpora", cache / "evalsets") if not d.exists()]
    try:
        with cli_errors(), download_bar(name, enabled=not quiet) as progress:
            fetcher = fetch_eval_set if name in EVAL_DOWNLOADS else fetch_vectors
            path = fetcher(name, progress=progress)
    except BaseException:
        for folder in reversed(made):  # a failed fetch (offline, bad checksum) leaves nothing behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    output.write_line(str(path))
