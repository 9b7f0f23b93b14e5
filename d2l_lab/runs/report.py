"""A shareable page of runs: comparison plots and a results table, as HTML or Markdown.

HTML is one self-contained file (plots embedded as base64 PNG), to attach or mail. Markdown keeps
its PNGs beside the file (`<stem>-1.png`, ...), to commit next to it. Runs are plotted in groups
that can share axes: same experiment and same x column (airfoil epochs, surface steps).
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from d2l_lab.errors import UserError
from d2l_lab.runs import compare
from d2l_lab.files import atomic_write, atomic_write_text
from d2l_lab.runs.catalog import Selected
from d2l_lab.runs.metrics import read_metrics

FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}
MAX_METRIC_COLUMNS = 4
"""Final metrics tabled: every one with a direction (loss, each evaluation set's score), then the
others while there are fewer columns than this."""


@dataclass(frozen=True)
class Figure:
    title: str
    png: bytes


def report_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"-o '{path}': the report format comes from the extension: use .html or .md") from None


def figures(selected: Sequence[Selected], metric: str) -> list[Figure]:
    """One comparison plot per group of runs that share an experiment and an x axis; seeds of one
    configuration drawn as their mean over a band (`compare.BAND`)."""
    from d2l_lab import plotting

    groups: dict[tuple[str, str], list[Selected]] = {}
    for s in selected:
        groups.setdefault((s.run.experiment, _x_column(s, metric)), []).append(s)
    out = []
    for (experiment, x), members in sorted(groups.items()):
        if x == "":
            continue  # these runs have no such metric: they are in the table only
        runs = f"{len(members)} run{'s' if len(members) > 1 else ''}"
        title = f"{experiment}: {metric} vs {compare.x_label(x)} ({runs})"
        common = compare.shared(members)
        fig = compare.figure(compare.grouped(members, metric), metric,
                             title=title + (f"\n{common}" if common else ""))
        out.append(Figure(title, plotting.png_bytes(fig)))
    if not out:
        raise UserError(f"none of these runs logs '{metric}': pick another --metric")
    return out


def table(selected: Sequence[Selected]) -> tuple[list[str], list[list[str]]]:
    """One row per run, or per configuration run with several seeds (`mean ± std (n=K)`): label,
    status, final metrics, wall time."""
    metrics = list(dict.fromkeys(k for s in selected for k, v in s.run.final.items()
                                 if isinstance(v, (int, float))))
    scored = [m for m in metrics if compare.direction(m) is not None]
    metrics = scored + [m for m in metrics if m not in scored][:max(0, MAX_METRIC_COLUMNS - len(scored))]
    columns = ["run", "experiment", "label", "status", *metrics, "wall s"]
    rows = []
    for experiment in dict.fromkeys(s.run.experiment for s in selected):
        groups = compare.seed_groups([s for s in selected if s.run.experiment == experiment])
        for label, runs in zip(compare.labels([g[0] for g in groups]), groups):
            rows.append([compare.run_ids(runs), experiment, label, compare.statuses(runs),
                         *(compare.spread([s.run.final.get(m) for s in runs]) for m in metrics),
                         compare.spread([s.run.summary.get("wall_time_s") for s in runs], digits=3)])
    return columns, rows


def write(path: Path, selected: Sequence[Selected], metric: str, sources: Sequence[str],
          extra: Sequence[Figure] = (), notes: Sequence[str] = ()) -> list[Path]:
    """Write the report (and, for Markdown, its PNGs); returns every file written. `extra` figures
    and `notes` (lines) come first: a search's (`d2l_lab.runs.search_report`)."""
    kind = report_format(path)
    shown = [*extra, *figures(selected, metric)]
    columns, rows = table(selected)
    title = f"d2l-lab report: {len(selected)} runs"
    stamp = time.strftime("%Y-%m-%d %H:%M")
    if kind == "html":
        atomic_write_text(path, _html(title, stamp, sources, notes, shown, columns, rows))
        return [path]
    images = []
    for n, figure in enumerate(shown, start=1):
        image = path.with_name(f"{path.stem}-{n}.png")
        atomic_write(image, lambda f, data=figure.png: f.write(data))
        images.append(image)
    atomic_write_text(path, _markdown(title, stamp, sources, notes, shown, images, columns, rows))
    return [*images, path]


def _html(title: str, stamp: str, sources: Sequence[str], notes: Sequence[str], shown: Sequence[Figure], columns: list[str],
          rows: list[list[str]]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">", f"<title>{e(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;font-size:0.9rem}td,th{border:1px solid #ccc;padding:0.25rem 0.5rem;"
        "text-align:left}th{background:#f3f3f3}img{max-width:100%}</style></head><body>",
        f"<h1>{e(title)}</h1>", f"<p>Generated {e(stamp)} from {e(' '.join(sources))}.</p>",
        *(f"<p><code>{e(line)}</code></p>" for line in notes),
    ]
    for figure in shown:
        data = base64.b64encode(figure.png).decode("ascii")
        parts += [f"<h2>{e(figure.title)}</h2>",
                  f"<img alt=\"{e(figure.title)}\" src=\"data:image/png;base64,{data}\">"]
    parts += ["<h2>Results</h2>", "<table>", "<tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"]
    parts += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows]
    parts += ["</table>", "</body></html>", ""]
    return "\n".join(parts)


def _markdown(title: str, stamp: str, sources: Sequence[str], notes: Sequence[str], shown: Sequence[Figure],
              images: Sequence[Path],
              columns: list[str], rows: list[list[str]]) -> str:
    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(_md(v) for v in values) + " |"

    parts = [f"# {_md(title)}", "", f"Generated {stamp} from {_md(' '.join(sources))}.", ""]
    parts += [line for note in notes for line in (_md(note), "")]
    for figure, image in zip(shown, images):
        parts += [f"## {_md(figure.title)}", "", f"![{_md(figure.title)}]({image.name})", ""]
    parts += ["## Results", "", cells(columns), cells(["---"] * len(columns)), *(cells(r) for r in rows), ""]
    return "\n".join(parts)


def _md(text: str) -> str:
    """Text from configs and paths made inert in Markdown: renderers pass raw HTML through, so
    `<script>` or `<img onerror=...>` in a config value would run; escaped as the HTML report does,
    on one line, with table pipes and link brackets escaped."""
    text = html.escape(" ".join(str(text).splitlines()), quote=False)
    for char in "\\|[]`*_":
        text = text.replace(char, "\\" + char)
    return text


def _x_column(s: Selected, metric: str) -> str:
    """The run's x column, or '' when it has no metrics or no such metric."""
    path = s.run.path / "metrics.csv"
    if not path.is_file():
        return ""
    rows = read_metrics(path)
    columns = list(rows[0]) if rows else []
    return compare.x_column(columns) if metric in columns else ""

