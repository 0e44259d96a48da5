"""Test harness shared by the suites: paths of the real servers, and a worker + client on its own task queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import functools
import json
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cxgov import cli
from cxgov.audit.store import AuditArchive
from cxgov.charter import load_charter
from cxgov.client import CxgovClient
from cxgov.commands.common import lend_loop
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.identity.signing import Signer
from cxgov.sandbox import Sandbox
from cxgov.settings import EXAMPLES
from worker import build_worker
from worker.build import NOT_ENFORCED
from workflows.action import SEARCH_ATTRIBUTE_KEYS

T = TypeVar("T")
BIN = Path(sys.executable).parent
TEMPORAL = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"
REFERENCE_CHARTER = EXAMPLES / "charter.yaml"
"""The reference charter, unchanged: for tests of the charter itself (with a fixed `today`)."""
SEED = EXAMPLES / "sandbox.yaml"

CERTIFIED_UNTIL = "2099"
"""The reference charter's actors are certified until early 2027; tests that act with them on the real clock
use a copy where support-bot and returns-sync stay certified, so the suite does not expire with them.
insights-partner stays overdue, as in the reference."""


def _certified_charter() -> Path:
    text = REFERENCE_CHARTER.read_text()
    for due in ("recertify_by: 2027-03-01", "recertify_by: 2027-01-15"):
        assert text.count(due) == 1, f"{due!r} not in the reference charter"
        text = text.replace(due, due.replace("2027", CERTIFIED_UNTIL))
    path = Path(tempfile.mkdtemp(prefix="cxgov-test-charter-")) / "charter.yaml"
    path.write_text(text)
    return path


CHARTER = _certified_charter()

TEST_COMPENSATION_ATTEMPTS = 3
"""Tests that make a compensation fail arm three compensate faults: three attempts (1 s and 2 s apart) fail it
within seconds, where the production default (10, spanning minutes) would keep trying."""

TEST_SIGNER = Signer(Ed25519PrivateKey.generate())
"""The tests' front door: the clients of `start_stack` sign with it, and its workers trust it alone."""
TRUSTED = {TEST_SIGNER.key_id: base64.b64encode(TEST_SIGNER.public).decode()}
"""The reference charter with support-bot and returns-sync certified until 2099 (nothing else changed)."""


@dataclass
class Stack:
    """A worker on its own task queue against the session dev server, and a typed client for it."""

    client: CxgovClient
    temporal: Client
    sandbox: Sandbox
    task_queue: str
    charter_path: Path


async def start_stack(
    temporal: Client,
    sandbox: Sandbox,
    *,
    charter_path: Path = CHARTER,
    step_timeout: float = 10.0,
    archive: AuditArchive | None = None,
    systems: Systems | None = None,
    **worker_options: Any,
) -> tuple[Stack, Worker]:
    """A worker (not yet running) on a fresh task queue, and the stack that reaches it.

    `systems` serve the actions (the sandbox serves every action it can by default). `worker_options` go to
    `build_worker` as they are (drills, drill_workspace, budgets, clock, ...). A test that hands no `drills` or
    `budgets` ledger gets a worker with that ledger explicitly NOT_ENFORCED (said here, for every such test):
    rules 4 and 5 are tested where a ledger is given. Compensations are tried TEST_COMPENSATION_ATTEMPTS times
    unless a test says otherwise.
    """
    client = governed(temporal)
    task_queue = f"test-{uuid.uuid4()}"
    worker_options.setdefault("drills", NOT_ENFORCED)
    worker_options.setdefault("budgets", NOT_ENFORCED)
    worker_options.setdefault("compensation_attempts", TEST_COMPENSATION_ATTEMPTS)
    worker = build_worker(
        client,
        task_queue=task_queue,
        charter_path=charter_path,
        systems=systems or Systems.serving(sandbox),
        step_timeout_seconds=step_timeout,
        trusted_keys=TRUSTED,
        executor=ThreadPoolExecutor(max_workers=8),
        archive=archive,
        **worker_options,
    )
    stack = Stack(
        client=CxgovClient(client, task_queue=task_queue, charter_path=charter_path, signer=TEST_SIGNER),
        temporal=client,
        sandbox=sandbox,
        task_queue=task_queue,
        charter_path=charter_path,
    )
    return stack, worker


def write_charter(tmp_path: Path, *replacements: tuple[str, str], name: str = "charter.yaml") -> Path:
    """The reference charter with exact text replacements, bumped to version 4; it must still load (signed).

    Each `old` must occur exactly once in the reference text, so a changed reference fails loudly here.
    """
    text = CHARTER.read_text()
    for old, new in (("version: 3 ", "version: 4 "), *replacements):
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {CHARTER}"
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    assert load_charter(path).version == 4
    return path


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, within: float = 10.0, what: str = ""
) -> T:
    """Call `probe` until `accept` holds for its answer; fail after `within` seconds with the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.02
    while True:
        answer = await probe()
        if accept(answer):
            return answer
        if loop.time() >= deadline:
            raise AssertionError(f"not within {within}s: {what or probe}; last answer: {answer!r}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.2)


async def terminate_running(client: Client, task_queue: str) -> None:
    """Terminate what a test left running on `task_queue` (actions awaiting approval): later tests list
    pending approvals and workflows on the same server."""
    query = f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running"'
    async for execution in client.list_workflows(query):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(execution.id).terminate(reason="test finished")


async def register_search_attributes(client: Client, *, namespace: str) -> None:
    """Register cxgov's search attributes in `namespace` through the operator service."""
    attributes = {key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTE_KEYS}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=namespace, search_attributes=attributes)
    )


async def own_namespace(env: WorkflowEnvironment, *, prefix: str) -> Client:
    """A fresh namespace on the dev server with cxgov's search attributes: a test that lists workflows or
    schedules then sees only its own. The client is plain (wrap it with `governed` where needed)."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    await register_search_attributes(env.client, namespace=name)
    config = env.client.config()
    config["namespace"] = name
    return Client(**config)


@dataclass
class Outcome:
    """What one `cxgov` run did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """stdout as exactly one JSON object (fails the test otherwise)."""
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got {self.out!r} (stderr {self.err!r})"
        body = json.loads(lines[0])
        assert isinstance(body, dict)
        return body

    def one_error_line(self) -> str:
        """The one line cxgov printed on stderr for an expected error, with nothing on stdout."""
        assert self.out == "", f"stdout should be empty, got {self.out!r}"
        lines = self.err.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {self.err!r}"
        assert lines[0].startswith("cxgov: "), lines[0]
        assert "Traceback" not in self.err
        return lines[0]


class LoopThread:
    """An event loop running on a daemon thread for the rest of the test process; never closed.

    Sync tests reach Temporal through these rather than through `asyncio.run`, which creates and closes a
    loop (and the native client bound to it) per call. A CI run of the CLI tests, which did that for every
    command while a worker ran on another loop, died of a segmentation fault.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name=name, daemon=True).start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        return self.submit(coro).result(timeout)


@functools.cache
def command_loop() -> LoopThread:
    """The loop every in-process `cxgov` command and sync-test Temporal query runs on."""
    return LoopThread("cxgov-test-commands")


@functools.cache
def worker_loop() -> LoopThread:
    """The loop the sync tests' workers run on (apart from the commands, so a blocking command cannot stall them)."""
    return LoopThread("cxgov-test-workers")


Runner = Callable[..., Outcome]
"""Runs `cxgov ARGS` and returns its Outcome."""


def in_process(capsys: pytest.CaptureFixture[str]) -> Runner:
    """A runner calling `cxgov.cli.run(argv)` in this process, capturing what it prints.

    The commands' coroutines run on `command_loop()` (lent to the CLI), not on a loop of their own.
    """
    lend_loop(command_loop().loop)

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        code = cli.run(list(args))
        captured = capsys.readouterr()
        return Outcome(code=code, out=captured.out, err=captured.err)

    return run


def sign_charter(audit_url: str, path: Path = CHARTER) -> None:
    """Record every declared sign-off of the charter at `path` as signed by its named person, through the
    charter registry (what the API does for `cxgov charter sign`), so a `cxgov worker` process will load it."""
    from cxgov.charter import read_charter
    from cxgov.charter.registry import CharterRegistry

    registry = CharterRegistry(audit_url)
    try:
        registry.sign_declared(read_charter(path), via="test setup (registry)", now=datetime.datetime.now(datetime.UTC))
    finally:
        registry.close()
