"""One writer per run directory: the process training a run holds an exclusive lock on it.

`hold(run_dir)` takes an `fcntl.flock` on `<run>/.writer.lock` before the run's first write (a
fresh run: as soon as its directory exists; `--resume`, and a sweep resuming a point: before
anything is loaded) and keeps it until the summary is final. Another process that would write
the same directory (`--resume` of a run still training, a sweep point whose config a `d2l run` is
training there) is refused with one line naming the run and the holder: its pid and host, which
the holder writes into the lock file. `holder(run_dir)` asks without keeping the lock, so
`d2l runs list` shows `running` only while the lock is held, and a run whose summary.json says
`running` while the lock is free (its process was killed: SIGKILL, out of memory, a lost node)
as `interrupted`, which `--resume` and a re-issued sweep continue from its last checkpoint.

What the lock is worth where:
- A local filesystem: exact. The kernel drops the lock when its holder dies, however it dies, so
  a dead run's directory is free at once. The lock belongs to the open file: two `hold`s exclude
  each other even within one process, and a run directory renamed while it trains stays locked.
- NFS: Linux emulates flock with POSIX byte-range locks (since 2.6.12), which the server
  arbitrates. NFSv4 keeps them in the client's lease: a client that dies or loses the network
  loses its locks when the lease expires (90 s by default), and until then its runs still show
  `running`. NFSv3 goes through lockd/NLM: a client that crashes and never comes back can leave
  its locks held until an administrator clears them (the refusal names the pid and host to look
  for). The emulation has POSIX semantics within a process (closing any descriptor of the file
  drops the process's lock), so a process holds a run through one `hold` and never probes a run
  it holds. A mount with `nolock` or `local_lock=flock` keeps locks on one client: processes on
  two nodes would both get it.
- Lustre honours flock when mounted with `-o flock` (`-o localflock`: per node only); GPFS and
  BeeGFS honour it.
- Where the filesystem has no locks at all (flock fails with ENOLCK, ENOSYS, EOPNOTSUPP or EINVAL:
  NFS without lockd, Lustre without `-o flock`, some FUSE filesystems) the run goes on unlocked
  after one warning saying so, rather than not at all; `runs list` then shows what summary.json
  says.

The lock file stays in the run directory (a hidden file holding a pid): deleting a lock file that
another process may have opened would let two holders in.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from d2l_lab.errors import UserError

LOCK_NAME = ".writer.lock"
WAIT_S = 1.0
"""How long a writer retries a lock that is taken before refusing: a `holder` probe holds it
for microseconds, a training process for the whole run."""
_RETRY_S = 0.02
_CONTENDED = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES}
"""What flock (and its NFS emulation, as F_SETLK does) says when another holder has the lock;
any other error means the filesystem does not lock."""


def try_lock(fd: int, exclusive: bool = True) -> bool | None:
    """One non-blocking flock: True taken, False held by another, None when the filesystem has
    no locks (see the module docstring)."""
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in _CONTENDED:
            return False
        return None


def unlock(fd: int) -> None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def unsupported(where: Path) -> str:
    """The warning of a run or point that goes on unlocked."""
    return (f"the filesystem of '{where}' does not support file locks: nothing stops another process from "
            "writing the same run at once; keep to one")


@dataclass(frozen=True)
class Holder:
    """The process holding a run's lock, as far as its lock file says."""

    pid: int | None = None
    host: str | None = None

    def where(self) -> str:
        """`pid N`, `pid N on HOST` when another host holds it, or '' when the file says nothing."""
        if self.pid is None:
            return ""
        return f"pid {self.pid}" + ("" if self.host in (None, socket.gethostname()) else f" on {self.host}")

    def describe(self) -> str:
        return f"another process ({self.where()})" if self.pid is not None else "another process"


UNKNOWN = Holder()
"""`holder`'s answer when the lock cannot be asked (no locks on that filesystem, no permission)."""


def holder(run_dir: Path) -> Holder | None:
    """Who holds the run's lock: None when nobody does (or the run has no lock file), UNKNOWN
    when that cannot be told. Takes a shared lock for an instant, never waits."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return UNKNOWN
    try:
        taken = try_lock(fd, exclusive=False)
        if taken:
            unlock(fd)
            return None
        return _read_holder(fd) if taken is False else UNKNOWN
    finally:
        os.close(fd)


def _read_holder(fd: int) -> Holder:
    try:
        words = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
        return Holder(int(words[0]), words[1] if len(words) > 1 else None)
    except (OSError, ValueError, IndexError):
        return Holder()


def refusal(run_dir: Path, who: Holder) -> UserError:
    stop = f"kill -TERM {who.pid}" if who.pid is not None else "Ctrl-C or kill -TERM"
    return UserError(f"run '{run_dir}' is being trained by {who.describe()}: wait for it to end, or stop it "
                     f"({stop}: it saves a checkpoint) and resume it then")


@contextmanager
def hold(run_dir: Path, warn: Callable[[str], None]) -> Iterator[None]:
    """Hold `run_dir`'s lock while the block runs; UserError (`refusal`) when another process
    holds it, OSError when the lock file cannot be made (the caller says so as a failed write)."""
    run_dir = Path(run_dir)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + WAIT_S
        while (taken := try_lock(fd)) is False and time.monotonic() < deadline:
            time.sleep(_RETRY_S)
        if taken is False:
            raise refusal(run_dir, _read_holder(fd))
        if taken is None:
            warn(unsupported(run_dir))
        _write_holder(fd)
        try:
            yield
        finally:
            _clear(fd)
            unlock(fd)
    finally:
        os.close(fd)


def _write_holder(fd: int) -> None:
    """The pid and host that a refusal names (best effort: a full disk leaves the file empty)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError:
        pass


def _clear(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
