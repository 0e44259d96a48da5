"""Fixtures of the reversal drill tests: a drill ledger per test, worker stacks with it, a time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from drillkit import DrillStack, DrillStackFactory, start_drill_stack, terminate_running
from harness import TEMPORAL_TEST_SERVER
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.settings import SEARCH_ATTRIBUTES

INDEXED_VALUE_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[DrillLedger]:
    """An empty drill ledger in the test's own SQLite file (where the CLI looks: CXGOV_HOME/audit.db)."""
    opened = DrillLedger(f"sqlite:///{tmp_path / 'audit.db'}")
    yield opened
    opened.close()


@pytest_asyncio.fixture
async def drill_stack(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, ledger: DrillLedger, tmp_path: Path
) -> AsyncIterator[DrillStackFactory]:
    """Start a drill stack (dev server and the test's sandbox and ledger unless told otherwise); stopped after
    the test, with whatever it left running terminated."""
    async with AsyncExitStack() as running:
        stacks: list[DrillStack] = []

        async def start(*, temporal: Client | None = None, **options: Any) -> DrillStack:
            built, worker = await start_drill_stack(
                temporal or dev_env.client, sandbox, ledger=ledger, workspace=tmp_path / "drills", **options
            )
            await running.enter_async_context(worker)
            stacks.append(built)
            return built

        yield start
        for built in stacks:
            await terminate_running(built.temporal, built.task_queue)


@pytest_asyncio.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A new time-skipping test server for this test only (one stuck workflow task would freeze a shared one),
    with cxgov's search attributes registered through the operator service (it has no option for them)."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEMPORAL_TEST_SERVER))
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={name: INDEXED_VALUE_TYPES[kind] for name, kind in SEARCH_ATTRIBUTES.items()},
            )
        )
        yield env
    finally:
        await env.shutdown()
