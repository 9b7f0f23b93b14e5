"""Shell-completion callbacks (`d2l --install-completion`): device, preset and vectors names, run ids.

The shell calls `d2l` on every <TAB>, so these read directory names only: no torch, no file
contents. A config field's fixed choices (`--algo`, `--schedule`, ...) complete through
`cli.flags.config_flag`.
"""

from __future__ import annotations

from pathlib import Path

from d2l_lab.experiments.registry import EXPERIMENTS

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:0", "mps")
"""What `--device` completes to; `cuda:N` takes any index (checked when the run starts)."""
DEVICE_METAVAR = "[auto|cpu|cuda|cuda:N|mps]"


def complete_device(incomplete: str) -> list[str]:
    return [name for name in DEVICE_NAMES if name.startswith(incomplete)]


def complete_experiment(incomplete: str) -> list[str]:
    """The registry's experiments, for `d2l sweep <TAB>` and `d2l runs list --experiment <TAB>`."""
    return [name for name in EXPERIMENTS if name.startswith(incomplete)]


def _out_root(ctx: object) -> Path:
    """The `--out` given before the <TAB> (click has parsed it), else the default root."""
    out = getattr(ctx, "params", {}).get("out")
    return Path(out) if out else Path("outputs")


def _run_dirs(root: Path, experiments: list[str]) -> list[Path]:
    runs = []
    for name in experiments:
        folder = root / name
        if folder.is_dir():
            runs += [p for p in folder.iterdir() if (p / "config.yaml").is_file()]
    return sorted(runs)


def complete_preset(ctx: object, incomplete: str) -> list[str]:
    """Presets of the command's experiment: `d2l run optim --preset <TAB>`, `d2l sweep optim --preset <TAB>`."""
    from d2l_lab.config.loading import available_presets

    # `d2l run optim`: the command's name; `d2l sweep optim`: its first argument, which click's
    # completion-time parsing leaves in ctx.args.
    given = getattr(ctx, "params", {}).get("experiment") or next(iter(getattr(ctx, "args", None) or []), None)
    experiment = given or getattr(ctx, "info_name", None)
    if experiment not in EXPERIMENTS:
        return []
    return [name for name in available_presets(experiment) if name.startswith(incomplete)]


def complete_run_id(ctx: object, incomplete: str) -> list[str]:
    """Run ids (directory names) under `--out`, for `d2l runs show|rerun <TAB>`."""
    ids = sorted(p.name for p in _run_dirs(_out_root(ctx), list(EXPERIMENTS)))  # by time, as ids start with it
    return [run_id for run_id in ids if run_id.startswith(incomplete)]


def complete_remote(incomplete: str) -> list[str]:
    """The pretrained vectors and evaluation sets `d2l data fetch` knows."""
    from d2l_lab.datasets.eval_downloads import EVAL_DOWNLOADS
    from d2l_lab.datasets.fetch import REMOTES

    return [name for name in (*REMOTES, *EVAL_DOWNLOADS) if name.startswith(incomplete)]


def complete_resume(ctx: object, incomplete: str) -> list[str]:
    """The run directories of this command's experiment, as paths, for `d2l run optim --resume <TAB>`."""
    experiment = getattr(ctx, "info_name", None)
    if experiment not in EXPERIMENTS:
        return []
    paths = [str(p) for p in _run_dirs(_out_root(ctx), [experiment])]
    return [path for path in paths if path.startswith(incomplete)]
