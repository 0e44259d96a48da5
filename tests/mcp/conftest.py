"""Fixtures for the MCP tests: the HTTP API (with `/mcp`) on a free loopback port, in front of a test worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from api.apikit import Api, serving
from harness import Stack, terminate_running


@pytest_asyncio.fixture
async def api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    """The API of `cxgov serve` (MCP at /mcp) for the test's worker; what a test leaves waiting is terminated."""
    try:
        async with serving(stack, tmp_path) as running:
            yield running
    finally:
        await terminate_running(stack.temporal, stack.task_queue)
