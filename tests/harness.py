"""Test harness shared by the suites: paths of the real servers, and a worker + client on its own task queue."""

from __future__ import annotations

import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from cxgov.audit.store import AuditArchive
from cxgov.client import CxgovClient, governed
from cxgov.sandbox import Sandbox
from cxgov.settings import EXAMPLES
from worker import build_worker
from workflows.action import (
    CX_ACTION,
    CX_ACTOR,
    CX_AMOUNT,
    CX_CHANNEL,
    CX_CHARTER_VERSION,
    CX_CUSTOMER,
    CX_STATUS,
)

BIN = Path(sys.executable).parent
TEMPORAL = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"
SEARCH_ATTRIBUTE_KEYS = [CX_ACTOR, CX_ACTION, CX_CUSTOMER, CX_STATUS, CX_AMOUNT, CX_CHANNEL, CX_CHARTER_VERSION]
CHARTER = EXAMPLES / "charter.yaml"
SEED = EXAMPLES / "sandbox.yaml"


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
) -> tuple[Stack, Worker]:
    client = governed(temporal)
    task_queue = f"test-{uuid.uuid4()}"
    worker = build_worker(
        client,
        task_queue=task_queue,
        charter_path=charter_path,
        sandbox=sandbox,
        step_timeout_seconds=step_timeout,
        executor=ThreadPoolExecutor(max_workers=8),
        archive=archive,
    )
    stack = Stack(
        client=CxgovClient(client, task_queue=task_queue, charter_path=charter_path),
        temporal=client,
        sandbox=sandbox,
        task_queue=task_queue,
        charter_path=charter_path,
    )
    return stack, worker
