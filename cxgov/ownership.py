"""Which local processes a CXGOV_HOME owns, so that nothing `cxgov up` starts outlives it, however it dies.

`cxgov up` can die without running any cleanup (SIGKILL, the OOM killer, a closed terminal). Three things keep
its home usable afterwards:

- `die_with_parent`: a child server is killed by the kernel when its parent process goes (Linux
  `PR_SET_PDEATHSIG`), so an orphan does not keep holding the port.
- `ServerPidFile`: what was started, with the proof of identity (pid, start time, boot, command line), so that
  the next `cxgov up` stops a survivor only when it is provably the one this home started: a pid alone may
  have been reused by any other process since.
- `HomeLock`: an exclusive `flock` on CXGOV_HOME/up.lock. The kernel drops it when its holder dies, so it is
  never stale, and a second `cxgov up` on the same home is refused while the first one runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import itertools
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from cxgov.errors import Unavailable

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when its parent dies."""
STOP_GRACE = 10.0
"""Seconds a stale server gets to stop on SIGTERM before it is killed."""


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that makes the child die (SIGKILL) when this process dies.

    Linux only (None elsewhere: the pid file still finds the survivor). The kernel sends the signal when the
    *thread* that forked the child exits, not only the process: start the child from the main thread or from a
    thread that lives as long as the process, never from a pool thread. The setting survives `exec` (it is
    cleared only for set-user-ID binaries) and is not inherited by the child's own children; the `temporal`
    CLI runs the dev server in its own process and starts none.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def arm() -> None:
        # Runs in the child between fork and exec: nothing here imports or takes a lock.
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed: nobody would send it now
            os._exit(1)

    return arm


@dataclass(frozen=True)
class ProcessProof:
    """Who a running process is, beyond its pid (which the kernel hands out again once it is free)."""

    pid: int
    started: int
    """Start time in clock ticks after boot (/proc/<pid>/stat, field 22)."""
    boot: str
    """The kernel's boot id: start times count from boot, so a proof holds only within the same boot."""
    command: list[str]
    """The command line (/proc/<pid>/cmdline)."""


def read_proof(pid: int) -> ProcessProof | None:
    """The proof of the live process `pid`; None when there is none (gone, a zombie, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces or ')': the fields after the last ')' are fixed.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] == "Z" or not raw:
        return None
    command = [part.decode(errors="surrogateescape") for part in raw.rstrip(b"\0").split(b"\0")]
    return ProcessProof(pid=pid, started=int(fields[19]), boot=boot, command=command)


def is_dev_server(command: list[str], *, database: Path) -> bool:
    """Whether `command` is a `temporal server start-dev` on `database` (the one a CXGOV_HOME's `cxgov up` runs)."""
    databases = [value for flag, value in itertools.pairwise(command) if flag == "--db-filename"]
    return (
        len(command) > 2
        and Path(command[0]).name == "temporal"
        and command[1:3] == ["server", "start-dev"]
        and databases == [str(database)]
    )


class ServerPidFile:
    """The pid file of a server this CXGOV_HOME started, and the proof that a process is that server.

    Args:
        path: The pid file (JSON: pid, start time, boot id, command line).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, pid: int) -> None:
        """Write down the process `pid` (right after it started), with its proof of identity."""
        proof = read_proof(pid)
        if proof is None:
            return  # it already exited (the caller sees that), or there is no /proc to prove anything with
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(proof)))
        temporary.replace(self.path)

    def recorded(self) -> ProcessProof | None:
        """What the file says was started; None when there is no file or it is unreadable."""
        try:
            data = json.loads(self.path.read_text())
            return ProcessProof(
                pid=int(data["pid"]),
                started=int(data["started"]),
                boot=str(data["boot"]),
                command=[str(part) for part in data["command"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def stop_survivor(self, *, owns: Callable[[list[str]], bool], grace: float = STOP_GRACE) -> int | None:
        """Stop the recorded server if it still runs and is provably ours; return its pid when it was stopped.

        Ours means: the same pid, start time and boot as recorded, the command line recorded, and `owns` accepts
        that command line. Anything else (it exited, or its pid now belongs to another process) is left alone,
        and the stale file is removed. SIGTERM first, SIGKILL after `grace` seconds.
        """
        recorded = self.recorded()
        if recorded is None:
            self.remove()
            return None
        stopped = _stop_if_proven(recorded, owns=owns, grace=grace)
        self.remove()
        return recorded.pid if stopped else None


def _stop_if_proven(recorded: ProcessProof, *, owns: Callable[[list[str]], bool], grace: float) -> bool:
    # A pidfd pins the process: once the proof is read through it, a signal sent through it cannot reach a
    # process that took the pid over in between.
    try:
        pinned = os.pidfd_open(recorded.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        pinned = None
    try:
        if read_proof(recorded.pid) != recorded or not owns(recorded.command):
            return False
        try:
            _signal(recorded.pid, pinned, signal.SIGTERM)
            if not _gone(recorded, pinned, within=grace):
                _signal(recorded.pid, pinned, signal.SIGKILL)
                if not _gone(recorded, pinned, within=5.0):
                    raise Unavailable(
                        f"the Temporal dev server left by an earlier `cxgov up` (pid {recorded.pid}) "
                        "does not stop; stop it by hand"
                    )
        except ProcessLookupError:
            pass  # it exited on its own meanwhile
        except PermissionError:
            return False  # another user's process after all: not ours to stop
        return True
    finally:
        if pinned is not None:
            os.close(pinned)


def _signal(pid: int, pinned: int | None, signum: signal.Signals) -> None:
    if pinned is not None:
        signal.pidfd_send_signal(pinned, signum)
    else:
        os.kill(pid, signum)


def _gone(recorded: ProcessProof, pinned: int | None, *, within: float) -> bool:
    """Whether the process exits within `within` seconds (a pidfd turns readable when it does)."""
    if pinned is not None:
        readable, _, _ = select.select([pinned], [], [], within)
        return bool(readable)
    deadline = time.monotonic() + within
    while read_proof(recorded.pid) == recorded:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class HomeLock:
    """An exclusive lock on a CXGOV_HOME for one `cxgov up`; the kernel releases it when the holder dies.

    Args:
        path: The lock file; it holds the holder's pid, for the message another `cxgov up` prints.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or refuse when another process holds it.

        Raises:
            Unavailable: Another `cxgov up` runs on this home (exit code 1).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")  # not inherited by child processes (PEP 446), so no child holds it
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise Unavailable(
                f"another `cxgov up` (pid {holder}) is already running on CXGOV_HOME={self.path.parent}: use that "
                "one, stop it first (Ctrl-C), or give this one its own CXGOV_HOME"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let the next `cxgov up` have the home (the file stays: removing it would race with a new holder)."""
        if self._file is not None:
            self._file.close()
            self._file = None
