"""`d2l report SWEEP_OR_RUNS... -o report.html`: one shareable page of plots and results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from d2l_lab.cli.common import OutRoot, cli_errors


def report(
    sources: Annotated[list[str], typer.Argument(help="sweep directories, run directories or run ids")],
    output: Annotated[Path, typer.Option("--output", "-o", help="report.html (self-contained) or report.md "
                                                                "(PNGs written beside it)")],
    metric: Annotated[str, typer.Option(help="metrics.csv column to plot")] = "loss",
    out: OutRoot = Path("outputs"),
) -> None:
    """Write comparison plots and a results table for sweeps or runs, as HTML or Markdown."""
    from d2l_lab.runs import report as reporting
    from d2l_lab.runs.catalog import select
    from d2l_lab.files import check_output_file

    with cli_errors():
        reporting.report_format(output)
        check_output_file(output, "-o")
        selected = select(sources, out)
        written = reporting.write(output, selected, metric, sources)
    print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
