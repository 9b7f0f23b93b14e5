"""Every option a launcher may read, in one dataclass: what `--launcher-config` and the flags compose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LauncherOptions:
    """Every launcher option; `LAUNCHERS[name].options` says which ones a launcher uses."""

    name: str = "local"
    jobs: int | None = None
    """local: points run in parallel (default: one per core)."""
    address: str | None = None
    """ray: the cluster's address (default: RAY_ADDRESS; neither: a local Ray instance for the sweep)."""
    cpus_per_run: int = 1
    gpus_per_run: float = 0
    partition: str | None = None
    time: str = "60"
    """slurm: each job's time limit, minutes or [D-]HH:MM[:SS] (Slurm's own forms)."""
    mem: str | None = None
    """slurm: memory per job in Slurm's form (4G, 16000M)."""
    max_concurrent: int | None = None
    """slurm: the job array's parallelism (`%N`)."""
    slurm_set: dict[str, str] = field(default_factory=dict)
    """slurm: extra `#SBATCH --key=value` lines, passed through."""
    cluster: str = "slurm"
    """slurm: submitit's executor, `slurm` or `local` (the same submission path, jobs as local
    processes: for trying a setup on a laptop, and for the tests)."""
