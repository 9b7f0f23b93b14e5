"""`d2l report SWEEP_OR_RUNS... -o report.html`: one shareable page of plots and results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import OutRoot, cli_errors


def report(
    sources: Annotated[list[str], typer.Argument(help="sweep directories, run directories or run ids")],
    report_file: Annotated[Path, typer.Option("--output", "-o", help="report.html (self-contained) or report.md "
                                                                "(PNGs written beside it)")],
    metric: Annotated[str, typer.Option(help="metrics.csv column to plot")] = "loss",
    out: OutRoot = Path("outputs"),
) -> None:
    """Write comparison plots and a results table for sweeps or runs, as HTML or Markdown."""
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.files import check_output_file
    from d2l_lab.runs import report as reporting
    from d2l_lab.runs.catalog import select

    with cli_errors():
        reporting.report_format(report_file)
        check_output_file(report_file, "-o")
        selected = select(sources, out, catalog_experiments())
        extra, notes = search_views(selected, metric)
        written = reporting.write(report_file, selected, metric, sources, extra, notes)
    output.note(f"wrote {', '.join(map(str, written))}")


def search_views(selected: list, metric: str) -> tuple[list, list[str]]:
    """The figures and best-trial lines of every search among the sweeps selected (none for grids)."""
    from d2l_lab.runs.search_space import is_search_dir

    searches = [s for s in dict.fromkeys(x.sweep for x in selected) if s is not None and is_search_dir(s)]
    if not searches:
        return [], []
    from d2l_lab.runs import search_report

    figures, notes = [], []
    for sweep_dir in searches:
        study_metric = _study_metric(sweep_dir, metric)
        figures += search_report.figures(sweep_dir, study_metric)
        notes += search_report.best_lines(sweep_dir)
    return figures, notes


def _study_metric(sweep_dir: Path, fallback: str) -> str:
    from d2l_lab.config.loading import read_yaml
    from d2l_lab.runs.sweepdir import SWEEP_FILE

    return str(read_yaml(sweep_dir / SWEEP_FILE).get("metric") or fallback)
