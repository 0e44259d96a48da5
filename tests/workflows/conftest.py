"""Fixtures of the action workflow tests: stacks on variant charters, and no workflow left running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest_asyncio
from action_kit import StackFactory
from harness import CHARTER, Stack, start_stack, terminate_running
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox


@pytest_asyncio.fixture
async def stack(stack: Stack) -> AsyncIterator[Stack]:
    """The reference stack; actions still running at the end of the test are terminated."""
    yield stack
    await terminate_running(stack.temporal, stack.task_queue)


@pytest_asyncio.fixture
async def stack_on(dev_env: WorkflowEnvironment, sandbox: Sandbox) -> AsyncIterator[StackFactory]:
    """Start a stack on the dev server with a given charter (and connector step timeout); stopped after the test."""
    async with AsyncExitStack() as running:
        stacks: list[Stack] = []

        async def start(*, charter_path: Path = CHARTER, step_timeout: float = 10.0) -> Stack:
            built, worker = await start_stack(
                dev_env.client, sandbox, charter_path=charter_path, step_timeout=step_timeout
            )
            await running.enter_async_context(worker)
            stacks.append(built)
            return built

        yield start
        for built in stacks:
            await terminate_running(built.temporal, built.task_queue)
