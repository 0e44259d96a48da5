"""What the CLI tests share: a worker on a loop of its own, and two ways to run `cxgov`.

The CLI's commands block until their coroutine is done, so they run from sync tests. The session's
pytest-asyncio loop does not run during a sync test, so the workers these commands talk to run on
`worker_loop()`, and the commands themselves on `command_loop()`: both live for the whole session.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import CHARTER, Outcome, Runner, command_loop, start_stack, terminate_running, worker_loop
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from cxgov.api.serve import ApiServer, gate_for
from cxgov.charter import load_charter
from cxgov.sandbox import Sandbox
from cxgov.settings import Settings
from cxgov.stack import issue_local_keys

CXGOV = Path(sys.executable).parent / "cxgov"
UNREACHABLE = "127.0.0.1:1"


def act(
    action: str,
    *,
    reason: str,
    actor: str = "support-bot",
    customer: str = "C-100",
    channel: str = "chat",
    **params: str,
) -> tuple[str, ...]:
    """`cxgov act ACTION ...` arguments, one `-p name=value` per keyword in `params`."""
    args = ["act", action, "--actor", actor, "--customer", customer, "--channel", channel, "--reason", reason]
    for name, value in params.items():
        args += ["-p", f"{name}={value}"]
    return tuple(args)


ALLOWED_REFUND = act("refund", reason="damaged in transit", order_id="O-1001", sku="TEE-RED-M", amount="40")


def refund(
    amount: str,
    *,
    sku: str = "JACKET-BLK-L",
    actor: str = "support-bot",
    order: str = "O-1001",
    customer: str = "C-100",
) -> tuple[str, ...]:
    """`cxgov act refund ...` arguments for a refund by chat (default: order O-1001 of customer C-100)."""
    return act(
        "refund", reason="item arrived damaged", actor=actor, customer=customer, order_id=order, sku=sku, amount=amount
    )


class BackgroundWorker:
    """A cxgov worker (reference charter, the given sandbox) on its own task queue, and the HTTP API in front of
    it on a free loopback port with a key file per actor and person in `home/keys`, served on `worker_loop()`."""

    def __init__(self, *, address: str, sandbox: Sandbox, home: Path, charter_path: Path = CHARTER) -> None:
        self.address = address
        self.sandbox = sandbox
        self.home = home
        self.charter_path = charter_path
        self.task_queue = ""
        self.api_url = ""
        self._loop = worker_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._serving: Future[None] | None = None

    def start(self) -> BackgroundWorker:
        self._serving = serving = self._loop.submit(self._serve())
        deadline = time.monotonic() + 30
        while not self._ready.wait(timeout=0.05):
            if serving.done():
                serving.result()  # the worker failed to start: raise why
            if time.monotonic() > deadline:
                raise TimeoutError("the test worker did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._serving is None:
            return
        if self._stop is not None:
            self._loop.loop.call_soon_threadsafe(self._stop.set)
        self._serving.result(timeout=30)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        client = await Client.connect(self.address, data_converter=pydantic_data_converter)
        built, worker = await start_stack(client, self.sandbox, charter_path=self.charter_path)
        self.task_queue = built.task_queue
        settings = Settings(home=self.home, charter_path=self.charter_path)
        api = ApiServer(gate_for(settings, built.client), address="127.0.0.1:0")
        async with worker:
            self.api_url = await api.start()
            issue_local_keys(settings, load_charter(self.charter_path), api.gate.keys)
            self._ready.set()
            await self._stop.wait()
            await api.stop()
            api.gate.keys.close()
            await terminate_running(client, self.task_queue)


@dataclass
class CliStack:
    """A worker plus the environment that points `cxgov` at it, in-process and in subprocesses."""

    home: Path
    address: str
    task_queue: str
    charter: Path
    sandbox: Sandbox
    env: dict[str, str]
    run: Runner = field(repr=False)

    def subprocess(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Outcome:
        """Run the real `cxgov` console script as a child process."""
        return run_subprocess(*args, env=env or self.env, timeout=timeout)

    def temporal(self, query: Callable[[Client], Any]) -> Any:
        """Run `query(client)` against the server from a sync test, on a fresh loop and connection."""

        async def go() -> Any:
            client = await Client.connect(self.address, data_converter=pydantic_data_converter)
            return await query(client)

        return command_loop().run(go())

    def workflow_count(self) -> int:
        """How many workflows were ever started on this stack's task queue (visibility: lags ~50 ms)."""

        async def count(client: Client) -> int:
            found = await client.count_workflows(f'TaskQueue = "{self.task_queue}"')
            return found.count

        return int(self.temporal(count))

    def exists(self, workflow_id: str) -> bool:
        """Whether a workflow with this id was ever started (read from the history, no visibility lag)."""

        async def describe(client: Client) -> bool:
            try:
                await client.get_workflow_handle(workflow_id).describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
            return True

        return bool(self.temporal(describe))


def run_subprocess(*args: str, env: dict[str, str], timeout: float = 60) -> Outcome:
    """Run `cxgov ARGS` as a child process and return what it did."""
    done = subprocess.run(
        [str(CXGOV), *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return Outcome(code=done.returncode, out=done.stdout, err=done.stderr)


def cxgov_env(*, home: Path, address: str, task_queue: str, charter: Path, api_url: str = "") -> dict[str, str]:
    """The cxgov settings, and nothing else of cxgov's, for this stack."""
    found = {
        "CXGOV_HOME": str(home),
        "CXGOV_TEMPORAL_ADDRESS": address,
        "CXGOV_TASK_QUEUE": task_queue,
        "CXGOV_CHARTER": str(charter),
    }
    return {**found, "CXGOV_API_URL": api_url} if api_url else found


def child_env(settings: dict[str, str]) -> dict[str, str]:
    """The test's environment without any inherited CXGOV_* setting, plus `settings`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")}
    return {**base, "COLUMNS": "120", **settings}


def unique_action_id() -> str:
    return f"action-{uuid.uuid4()}"
