"""What the outage tests share: servers of their own that can be killed and started again where they were.

The session's dev server (conftest `dev_env`) is shared by every test and keeps its state in memory; an outage
test needs a Temporal server it alone stops, whose SQLite file keeps the workflows across the restart. Likewise
the example shop of tests/connectors is started here on a fixed port, so that it comes back at the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

from connectors.shopkit import REPO, TOKEN, Shop, stop_process
from harness import TEMPORAL, Stack, eventually
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from cxgov.settings import SEARCH_ATTRIBUTES
from cxgov.wire import ActionRequest, ActionState

READY_WITHIN = 60.0
REFUND_TEE = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
"""Allowed for support-bot: 40 is within approve_above 50 (tests/workflows/action_kit.py has the same)."""
REFUND_JACKET_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
"""Escalates for support-bot to the support leads: over approve_above 50, within max_amount 200."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class OwnDevServer:
    """`temporal server start-dev` on free loopback ports with a persistent SQLite file and cxgov's search
    attributes (registered the way `cxgov up` does), started and stopped by the test that owns it."""

    def __init__(self, folder: Path) -> None:
        self.db_path = folder / "temporal.db"
        self.log_path = folder / "temporal.log"
        self.port = free_port()
        self.ui_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [str(TEMPORAL), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        command += ["--ui-port", str(self.ui_port), "--headless", "--db-filename", str(self.db_path)]
        command += ["--log-level", "warn"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        return command

    async def start(self) -> None:
        """Start the server (on the same port and file every time) and return once its frontend answers."""
        assert self.process is None or self.process.poll() is not None, "the server is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dev server exited at start: {self.log_path.read_text(errors='replace')}")
            if _listening(self.port):
                with contextlib.suppress(RuntimeError, RPCError):
                    await self.connect()  # connecting asks the frontend for its system info
                    return
            if loop.time() > deadline:
                self.stop()
                raise RuntimeError(f"the dev server did not answer within {READY_WITHIN:.0f}s")
            await asyncio.sleep(0.1)

    async def connect(self) -> Client:
        """A client of this server with cxgov's data converter."""
        return await Client.connect(self.address, data_converter=pydantic_data_converter)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, with no chance to flush or say goodbye."""
        assert self.process is not None and self.process.poll() is None, "the server is not running"
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL
        assert not _listening(self.port), f"port {self.port} still answers after the kill"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; nothing when it is not running."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def refund_request(stack: Stack, params: dict[str, str]) -> ActionRequest:
    """support-bot's refund for customer C-100 by chat, through the stack's client (rule 2 checked first)."""
    return stack.client.request(
        actor="support-bot", action="refund", customer="C-100", channel="chat", reason="outage test", params=params
    )


async def closed(stack: Stack, action_id: str, *, within: float) -> ActionState:
    """The action once its workflow has closed: its result."""
    handle = stack.temporal.get_workflow_handle(action_id)

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s != WorkflowExecutionStatus.RUNNING, within=within, what=f"{action_id} closes")
    return await stack.client.status(action_id)


class ShopOnPort:
    """The example shop (examples/shop) as a child process on one fixed loopback port and one SQLite file, so
    that it can be killed and come back where it was, with everything it had stored."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shop: Shop | None = None

    def start(self) -> Shop:
        env = {**os.environ, "SHOP_TOKEN": TOKEN}
        command = [sys.executable, "-m", "examples.shop", "--data", str(self.data), "--port", str(self.port)]
        with self.data.with_suffix(".log").open("a") as log:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True
            )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], READY_WITHIN)
        line = process.stdout.readline() if ready else ""
        if line.strip() != f"shop listening on {self.url}":
            stop_process(process)
            raise RuntimeError(f"the shop did not start on {self.url}: {line!r}")
        self.shop = Shop(process=process, url=self.url)
        return self.shop

    def kill(self) -> None:
        """SIGKILL: the shop is gone at once; its port refuses connections."""
        assert self.shop is not None and self.shop.process.poll() is None, "the shop is not running"
        self.shop.process.send_signal(signal.SIGKILL)
        self.shop.process.wait(timeout=10)
        self.shop.stop()  # closes its pipe
        assert not _listening(self.port)

    def stop(self) -> None:
        if self.shop is not None:
            self.shop.stop()
