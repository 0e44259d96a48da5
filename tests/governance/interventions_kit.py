"""A served stack (real worker, real HTTP server, dev Temporal server) whose charter names freeze and override
roles, with the kill switch wired into the worker: for the freeze and override tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from api.apikit import Api, serving
from cli.clikit import child_env, run_subprocess
from harness import Stack, eventually, start_stack, write_charter
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordPublic
from cxgov.killswitch import FreezeBook
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState

ROLES = (
    "grants:                        # anything",
    "freeze_roles: [duty-manager]\noverride_roles: [finance-ops, support-lead]\n\ngrants:                        # anything",
)
"""carla (duty-manager) freezes; farid (finance-ops, limit 5000), ana (1000) and ben (support-lead) override."""
BEN_100 = ("ben:   {roles: [support-lead], approve_limit: 300}", "ben:   {roles: [support-lead], approve_limit: 100}")


@dataclass
class Served:
    stack: Stack
    api: Api
    home: Path

    @property
    def audit_url(self) -> str:
        return f"sqlite:///{self.home / 'audit.db'}"

    def cli(self, *args: str, person: str, code: int = 0) -> dict[str, Any]:
        """Run `cxgov ARGS --json` as `person` (their key) against the served API; the JSON it printed (an
        error is `{"error", "exit_code"}`)."""
        env = child_env(
            {
                "CXGOV_HOME": str(self.home),
                "CXGOV_CHARTER": str(self.stack.charter_path),
                "CXGOV_API_URL": self.api.url,
                "CXGOV_TOKEN": self.api.token(person),
            }
        )
        done = run_subprocess(*args, "--json", env=env)
        assert done.code == code, done
        found: dict[str, Any] = json.loads(done.out)
        return found

    def records(self, *kinds: str) -> list[AuditRecordPublic]:
        archive = AuditArchive(self.audit_url)
        try:
            assert archive.verify().ok
            return [record for record in archive.query() if record.kind in kinds]
        finally:
            archive.close()


async def closed(stack: Stack, action_id: str) -> ActionState:
    """The action once its workflow has closed."""
    handle = stack.temporal.get_workflow_handle(action_id)

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s != WorkflowExecutionStatus.RUNNING, within=20, what=f"{action_id} closes")
    return await stack.client.status(action_id)


def refund(amount: str, *, sku: str = "JACKET-BLK-L", channel: str = "chat") -> dict[str, Any]:
    return {
        "action": "refund",
        "customer": "C-100",
        "channel": channel,
        "reason": "arrived torn",
        "params": {"order_id": "O-1001", "sku": sku, "amount": amount},
    }


async def serve(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path, *replacements: tuple[str, str]
) -> AsyncIterator[Served]:
    home = tmp_path / "home"
    home.mkdir()
    charter = write_charter(tmp_path, *replacements)
    freezes = FreezeBook(f"sqlite:///{home / 'audit.db'}")
    built, worker = await start_stack(dev_env.client, sandbox, charter_path=charter, freezes=freezes)
    try:
        async with worker, serving(built, home) as api:
            yield Served(stack=built, api=api, home=home)
    finally:
        freezes.close()


@pytest_asyncio.fixture
async def served(dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Served]:
    async for found in serve(dev_env, sandbox, tmp_path, ROLES, BEN_100):
        yield found
