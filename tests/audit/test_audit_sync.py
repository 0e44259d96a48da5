"""The archive against a real Temporal dev server: every action the governed path produces is archived
with full attribution, derived from its history alone; refusals are records; sync is idempotent and an
interrupted sync misses nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from harness import CHARTER, SEED, Stack, own_namespace, start_stack
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import archive_lag, sync_closed
from cxgov.errors import Denied
from cxgov.sandbox import Sandbox
from cxgov.wire import ArchiveInput, ArchiveResult, Status
from workflows.audit import AuditArchiveWorkflow

_KINDS = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}


@dataclass
class ArchivedStack:
    stack: Stack
    archive: AuditArchive


@pytest_asyncio.fixture
async def archived(dev_env: WorkflowEnvironment, archive: AuditArchive, tmp_path: Path) -> AsyncIterator[ArchivedStack]:
    client = await own_namespace(dev_env, prefix="audit")
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    stack, worker = await start_stack(client, box, charter_path=CHARTER, archive=archive)
    async with worker:
        yield ArchivedStack(stack=stack, archive=archive)
    box.close()


async def act(stack: Stack, action: str, params: dict[str, Any], **fields: Any) -> str:
    values: dict[str, Any] = {"actor": "support-bot", "customer": "C-100", "channel": "chat", "reason": "asked"}
    request = stack.client.request(action=action, params=params, **{**values, **fields})
    return (await stack.client.act(request, wait=20)).action_id


async def visible(stack: Stack, archive: AuditArchive, *, closed: int) -> tuple[Any, int]:
    """Wait until visibility lists `closed` unarchived closed runs (it lags results by ~50-100 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        lag, missing = await archive_lag(stack.temporal, archive, now=_now())
        if missing >= closed or loop.time() > deadline:
            assert missing == closed
            return lag, missing
        await asyncio.sleep(0.05)


def records(archive: AuditArchive, **filters: Any) -> list[dict[str, Any]]:
    return [record.model_dump() for record in archive.query(**filters)]


async def test_every_outcome_is_archived_with_full_attribution(archived: ArchivedStack) -> None:
    stack, archive = archived.stack, archived.archive
    allowed = await act(stack, "refund", {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"})
    denied = await act(stack, "refund", {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"})
    gap = await act(stack, "close_account", {})
    escalated = await act(stack, "refund", {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"})
    refused = await stack.client.decide(escalated, verdict="approve", person="omar", reason="I can do it")
    assert not refused.accepted
    granted = await stack.client.decide(escalated, verdict="approve", person="ana", reason="photo checked")
    assert granted.accepted
    assert (await stack.client.wait_settled(escalated, wait=20)).status == Status.COMPLETED
    stack.sandbox.add_fault(action="book_appointment", step="verify")
    compensated = await act(stack, "book_appointment", {"clinic": "north", "slot": "2026-12-01T09:00"})
    with pytest.raises(Denied):
        await stack.client.reverse(allowed, person="ana", reason="not mine to undo")
    reversal = await stack.client.reverse(allowed, person="farid", reason="customer kept it")
    assert reversal.status == Status.REVERSED

    lag, _missing = await visible(stack, archive, closed=7)
    assert lag.total_seconds() > 0
    report = await sync_closed(stack.temporal, archive)
    assert (report.archived, report.already, report.failed) == (7, 0, [])
    assert (await archive_lag(stack.temporal, archive, now=_now()))[1] == 0

    by_action = {r["action_id"]: r for r in records(archive, kind="action")}
    assert set(by_action) == {allowed, denied, gap, escalated, compensated}
    first = by_action[allowed]
    assert first["actor"] == "support-bot" and first["actor_kind"] == "ai_agent"
    assert (first["customer"], first["action"], first["channel"], first["reason"]) == (
        "C-100",
        "refund",
        "chat",
        "asked",
    )
    assert json.loads(first["params"]) == {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
    assert (first["outcome"], first["rule"], first["gap"], first["charter_version"]) == ("allow", "6-allow", False, 3)
    assert first["status"] == "completed" and first["run_id"] and first["time"]
    assert by_action[denied]["status"] == "denied" and by_action[denied]["rule"] == "4-excluded-sku"
    assert by_action[gap]["gap"] is True and by_action[gap]["rule"] == "1-no-grant"
    assert by_action[compensated]["status"] == "compensated"
    approvals = json.loads(by_action[escalated]["approvals"])
    assert [(a["person"], a["verdict"], a["accepted"]) for a in approvals] == [
        ("omar", "approve", False),
        ("ana", "approve", True),
    ]
    assert approvals[1]["role"] == "support-lead" and approvals[1]["reason"] == "photo checked" and approvals[1]["at"]

    refusals = records(archive, kind="approval_refused")
    assert [(r["actor"], r["action_id"]) for r in refusals] == [("omar", escalated)]
    assert "not on ladder step" in json.loads(refusals[0]["reasons"])[0]

    reversals = records(archive, kind="reversal")
    assert [(r["actor"], r["reversal_of"], r["status"]) for r in reversals] == [("farid", allowed, "reversed")]
    refused_reversals = records(archive, kind="reversal_refused")
    assert [(r["actor"], r["reversal_of"]) for r in refused_reversals] == [("ana", allowed)]
    assert "reversal owner role finance-ops" in json.loads(refused_reversals[0]["reasons"])[0]

    assert archive.verify().ok
    count = archive.count()
    again = await sync_closed(stack.temporal, archive, full=True)
    assert (again.archived, again.failed) == (0, [])
    assert archive.count() == count == len(records(archive)) == 7 + 1  # 7 runs, one refused approval


async def test_an_interrupted_sync_misses_nothing(archived: ArchivedStack) -> None:
    stack, archive = archived.stack, archived.archive
    action_ids = [
        await act(stack, "book_appointment", {"clinic": "north", "slot": "2026-12-01T09:00"}, channel=f"c{n}")
        for n in range(6)
    ]

    class Interrupted(Exception):
        pass

    def stop_after_three(done: int) -> None:
        if done == 3:
            raise Interrupted

    await visible(stack, archive, closed=6)
    with pytest.raises(Interrupted):
        await sync_closed(stack.temporal, archive, progress=stop_after_three)
    assert archive.count(kind="action") == 3
    report = await sync_closed(stack.temporal, archive)
    assert report.archived == 3
    assert sorted(r["action_id"] for r in records(archive, kind="action")) == sorted(action_ids)
    assert archive.verify().ok


async def test_the_scheduled_archive_workflow_archives(archived: ArchivedStack) -> None:
    stack = archived.stack
    await act(stack, "refund", {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"})
    await visible(stack, archived.archive, closed=1)
    result: ArchiveResult = await stack.temporal.execute_workflow(
        AuditArchiveWorkflow.run, ArchiveInput(), id=f"audit-archive-{uuid.uuid4()}", task_queue=stack.task_queue
    )
    assert (result.archived, result.failed, result.lag_seconds) == (1, [], 0.0)
    assert archived.archive.count(kind="action") == 1


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
