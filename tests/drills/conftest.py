"""Fixtures of the reversal drill tests: a drill ledger per test, worker stacks with it, a time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from drillkit import DrillStack, DrillStackFactory, start_drill_stack
from harness import terminate_running
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox


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
