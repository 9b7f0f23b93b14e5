"""Hogwild training of a run of batches (a word2vec or fastText chunk, a GloVe epoch) by several
processes over shared tables.

The word2vec C tool, the GloVe tool and gensim train with threads that update the same tables without locks
(Hogwild, Recht et al. 2011): two steps rarely touch the same row at the same moment, and when
they do, one addition may be lost, which SGD shrugs off. Torch's own threads do not give that
here: each op splits across OpenMP threads that wait for each other at its end, so one busy core
stalls every op. Instead `train_batches` forks `workers - 1` processes at the start of a chunk
(they inherit the chunk's examples and the tables, which are in shared memory, without copying),
and every process, the caller included, runs one torch thread and claims `CLAIM` batches at a
time from a shared counter until none are left. Claiming, rather than a fixed share, keeps every
core busy when another process slows one worker. Each batch's learning rate is that of its
position in the run, as in the serial loop; the chunk ends when every process is done (the only
barrier). With workers a chunk is one part of an epoch (one run-loop step, `train_part`), so
Ctrl-C stops at the end of the chunk in progress and a checkpoint holds whole chunks (GloVe: whole
epochs). Word2vec hands each batch over as `workers` slices, one step each, so that the steps landing at once add
up to about one batch's (`Word2VecTrainer` says why), and draws the next chunk
while the others train.

What it costs: the order in which steps land depends on the scheduler, so with more than one
worker the vectors differ from run to run (and from a resumed run), as gensim's and the C tool's
do with more than one thread. One worker never comes here and stays bit-for-bit reproducible.

Processes never outlive the chunk: the caller waits for them, kills them if it fails or is
interrupted, and each child is killed by the kernel if the caller dies (PR_SET_PDEATHSIG on
Linux; elsewhere it checks its parent between claims).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

import torch

LOCK_PATIENCE_S = 1.0
"""How long a worker waits for the claim lock before checking that the others are alive: the
lock is held for microseconds, so a second means its holder is gone."""
CLAIM = 4
"""Batches claimed at once: few enough that the workers end a chunk together, many enough that
the lock is taken about once per few milliseconds."""

Step = Callable[[int], "tuple[torch.Tensor, int]"]


def train_batches(step: Step, batches: int, workers: int, tables: Sequence[torch.Tensor] = (),
                  meanwhile: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `step(b)` (one SGD step on batch b; returns (summed loss, loss terms)) for every b in
    0..batches-1, spread over `workers` processes. Returns each batch's loss [batches] (float64)
    and loss terms [batches] (int64). `step` must write its updates only to `tables`, which are
    moved to shared memory here (in place, so views of them follow) before the workers fork. This
    process calls `meanwhile()` (work that needs no table) after starting the others, then joins them."""
    for table in tables:
        if not table.is_shared():
            table.share_memory_()
    losses = torch.zeros(batches, dtype=torch.float64).share_memory_()
    terms = torch.zeros(batches, dtype=torch.int64).share_memory_()
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0, lock=False)
    lock = context.Lock()
    parent = os.getpid()
    children: dict[int, int] = {}  # pid -> read end of its error pipe
    try:
        for _ in range(workers - 1):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: train, report a failure through the pipe, never return
                os.close(read)
                _child(step, batches, (losses, terms), counter, lock, parent, write)
            os.close(write)
            children[pid] = read
        if meanwhile is not None:
            meanwhile()
        _claim_and_train(step, batches, (losses, terms), counter, lock, parent, children)
        failures = []
        for pid, read in list(children.items()):
            _, status = os.waitpid(pid, 0)
            message = _read_all(read)
            del children[pid]
            if status:
                failures.append(message.strip().splitlines()[-1] if message.strip() else
                                f"worker {pid} ended with status {status}")
        if failures:
            raise RuntimeError(f"a training worker process failed: {failures[0]}")
    finally:
        for pid, read in children.items():  # only after an error or an interrupt in this process
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(read)
    return losses, terms


def _claim_and_train(step: Step, batches: int, results: tuple[torch.Tensor, torch.Tensor], counter, lock,
                     parent: int, children: dict[int, int] | None = None) -> None:
    """Claim CLAIM batches at a time and train them until none are left (or, in a child, until
    its parent is gone). The parent passes its `children`: a child killed while holding the lock
    (out of memory, kill -9) would otherwise leave everyone waiting for it for ever, so waiting
    for the lock gives up now and then to check that every worker is still alive."""
    child = os.getpid() != parent
    while True:
        while not lock.acquire(timeout=LOCK_PATIENCE_S):
            if child and os.getppid() != parent:
                return
            if children is not None:
                _raise_if_any_died(children)
        try:
            start = counter.value
            counter.value = start + CLAIM
        finally:
            lock.release()
        if start >= batches or (child and os.getppid() != parent):
            return
        losses, terms = results
        for b in range(start, min(start + CLAIM, batches)):
            losses[b], terms[b] = step(b)


def _raise_if_any_died(children: dict[int, int]) -> None:
    """RuntimeError naming the first worker that was killed or failed (looked at without reaping
    it, so that the join after training still collects every worker)."""
    for pid in children:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None and (info.si_code != os.CLD_EXITED or info.si_status != 0):
            how = (f"exit status {info.si_status}" if info.si_code == os.CLD_EXITED else
                   f"killed by signal {info.si_status}: out of memory, or kill -9?")
            raise RuntimeError(f"a training worker process (pid {pid}) died while training ({how})")


def _child(step: Step, batches: int, results: tuple[torch.Tensor, torch.Tensor], counter, lock, parent: int,
           error_pipe: int) -> None:
    status = 1
    try:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        torch.set_num_threads(1)
        _claim_and_train(step, batches, results, counter, lock, parent)
        status = 0
    except BaseException:  # noqa: BLE001  (reported to the parent, which raises it)
        try:
            os.write(error_pipe, traceback.format_exc().encode()[-4000:])
        except OSError:
            pass
    finally:
        os._exit(status)  # no atexit handlers, no flushing of the parent's buffers


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); if the parent is
    already gone, exit now."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")
