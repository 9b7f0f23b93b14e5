"""The Ray launcher: each point is a Ray task on the cluster at `--address` (or `RAY_ADDRESS`;
with neither, a local Ray instance started for the sweep and stopped after it).

Why plain tasks: Ray keeps its worker processes between tasks, so torch is imported once per
worker process, not once per point (a 200-point grid is not 200 process starts), and Ray packs
the tasks onto the cluster by the resources each asks for (`--cpus-per-run`, `--gpus-per-run`).
`max_retries=0`: a task whose worker process dies (killed, out of memory, node lost) comes back as
an error and its point is a `failed` row (`runs.sweep.lost_point`); re-issuing the sweep runs it.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.runs.launchers.base import POLL_S, TEST_WORKER_ROOT, RemoteLauncher, probe_path, write_marker

CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 120.0


class RayLauncher(RemoteLauncher):
    kind = "ray"

    def _open(self) -> str:
        import ray

        # "local" always starts a new instance (None would join whatever cluster last ran here)
        address = self.options.address or os.environ.get("RAY_ADDRESS") or "local"
        if address not in ("local", "auto"):
            _check_reachable(address)
        extra: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, **extra)
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError: Ray's words, one line
            while exc.__cause__ is not None:  # the root cause says what to fix (e.g. token authentication)
                exc = exc.__cause__
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"cannot connect to Ray at '{address}': {clip(first, 200)}; check --address "
                            "(host:port of `ray start --head`) and the cluster's RAY_AUTH_MODE") from None
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self._nodes = [n["NodeID"] for n in nodes]
        biggest = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
        gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
        if biggest < self.options.cpus_per_run or gpus < self.options.gpus_per_run:
            raise UserError(f"no node of the Ray cluster has {self.options.cpus_per_run} CPUs and "
                            f"{self.options.gpus_per_run:g} GPUs for one point (the biggest has {biggest:g} CPUs, "
                            f"{gpus:g} GPUs): lower --cpus-per-run/--gpus-per-run")
        total = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
        where = "a local Ray instance" if address == "local" else f"Ray at {address}"
        return (f"{where}: {len(nodes)} node(s), {total:g} CPUs; {self.options.cpus_per_run} CPU(s)"
                f"{f', {self.options.gpus_per_run:g} GPU(s)' if self.options.gpus_per_run else ''} per point")

    def _probe(self, out_root: Path, token: str) -> list[tuple[Path, dict[str, str | None]]]:
        """One marker per live node, each written by a task pinned to that node."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        env = {TEST_WORKER_ROOT: os.environ[TEST_WORKER_ROOT]} if os.environ.get(TEST_WORKER_ROOT) else {}
        probe = ray.remote(write_marker)
        paths = [probe_path(out_root, token, i) for i in range(len(self._nodes))]
        refs = [probe.options(num_cpus=0, max_retries=0, runtime_env={"env_vars": env} if env else None,
                              scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
                              ).remote(str(path), token)
                for node, path in zip(self._nodes, paths)]
        try:
            answers = ray.get(refs, timeout=PROBE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise UserError(f"the Ray workers did not answer within {PROBE_TIMEOUT_S:g} s: check the cluster "
                            "(`ray status`)") from None
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise UserError(f"a Ray worker cannot run d2l-lab ({clip(first, 160)}): install the same environment "
                            "on every node") from None
        return list(zip(paths, answers))

    def _submit(self, requests: list[dict[str, Any]], sweep_dir: Path) -> list[Any]:
        import ray

        task = ray.remote(self.point_function).options(
            num_cpus=self.options.cpus_per_run, num_gpus=self.options.gpus_per_run, max_retries=0)
        return [task.remote(request) for request in requests]

    def _finished(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any] | BaseException]]:
        import ray

        ready, _ = ray.wait(handles, num_returns=1, timeout=POLL_S)
        if ready:
            ready, _ = ray.wait(handles, num_returns=len(handles), timeout=0)
        finished: list[tuple[Any, dict[str, Any] | BaseException]] = []
        for ref in ready:
            try:
                finished.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:
                finished.append((ref, exc))
        return finished

    def _cancel(self, handles: list[Any], running_too: bool) -> None:
        """Queued tasks are left to start: they see the stop file and return at once. Killing is
        for the second Ctrl-C only (a killed point cannot checkpoint)."""
        import ray

        if running_too:
            for ref in handles:
                ray.cancel(ref, force=True)

    def _shutdown(self) -> None:
        import ray

        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Ray waits minutes for an address that does not answer; a TCP connect says it in seconds."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"--address '{clip(address, 60)}' is not host:port (e.g. 10.0.0.5:6379, as printed by "
                        "`ray start --head`)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at '{clip(address, 60)}' ({exc.strerror or exc}): start it "
                        "with `ray start --head` or fix --address / RAY_ADDRESS") from None
