"""`drill-<action>` schedules on the dev server, each test in a namespace of its own: sync creates, updates and
deletes them to match the charter; each fires a drill at the charter's cadence.

The time-skipping test server does not implement Schedules (CreateSchedule and ListSchedules answer
UNIMPLEMENTED), so cadence is checked here on the dev server: the schedule's interval, its next action times,
and a triggered run that records a drill.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest_asyncio
from drillkit import (
    DRILLED,
    DrillStackFactory,
    delete_schedules,
    own_namespace,
    schedule_ids,
)
from harness import CHARTER, eventually, write_charter
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from cxgov.charter import load_charter
from cxgov.drills import drill_schedule_id
from cxgov.drills.ledger import DrillLedger
from cxgov.schedules import sync_drill_schedules
from cxgov.wire import DrillResult

REFUND_WEEKLY = ('excluded_skus: ["FINAL-*", "GIFT-*"]', 'drill_every: 7d\n    excluded_skus: ["FINAL-*", "GIFT-*"]')
"""Charter change: refund is drilled every 7 days instead of drills.every (30d)."""
CANCEL_IRREVERSIBLE = (
    "reversal: {kind: window, window: 24h, procedure: Reinstate the order, owner: support-lead}",
    "reversal: {kind: irreversible, procedure: Call the customer and place the order again}",
)
"""Charter change: cancel_order can no longer be undone, so there is nothing to drill."""
DRILL_IDS = {drill_schedule_id(action) for action in DRILLED}


@pytest_asyncio.fixture
async def namespace(dev_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    client = await own_namespace(dev_env)
    yield client
    await delete_schedules(client)


async def listed(client: Client, expected: set[str]) -> set[str]:
    """Wait until visibility lists exactly `expected` (schedule listing lags creates and deletes)."""
    return await eventually(lambda: schedule_ids(client), lambda ids: ids == expected, what=f"schedules {expected}")


async def cadence_of(client: Client, action: str) -> timedelta:
    schedule = (await client.get_schedule_handle(drill_schedule_id(action)).describe()).schedule
    [interval] = schedule.spec.intervals
    return interval.every


async def test_sync_creates_updates_and_deletes_drill_schedules(namespace: Client, tmp_path: Path) -> None:
    reference = load_charter(CHARTER)
    weekly = load_charter(write_charter(tmp_path, REFUND_WEEKLY, name="weekly.yaml"))
    cancel_gone = load_charter(write_charter(tmp_path, REFUND_WEEKLY, CANCEL_IRREVERSIBLE, name="cancel.yaml"))

    created = await sync_drill_schedules(namespace, reference, task_queue="drills-q")
    assert sorted(created) == sorted(f"created drill-{action} (every 30d)" for action in DRILLED)
    await listed(namespace, DRILL_IDS)
    for action in DRILLED:
        description = await namespace.get_schedule_handle(drill_schedule_id(action)).describe()
        started = description.schedule.action
        assert isinstance(started, ScheduleActionStartWorkflow)
        assert (started.workflow, started.id, started.task_queue) == ("drill", drill_schedule_id(action), "drills-q")
        [arg] = await namespace.data_converter.decode(started.args)  # type: ignore[arg-type]
        assert arg == {"action": action}
        assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert await cadence_of(namespace, action) == timedelta(days=30)

    updated = await sync_drill_schedules(namespace, weekly, task_queue="drills-q")
    assert sorted(updated) == sorted(
        ["updated drill-refund (every 7d)"]
        + [f"unchanged drill-{action} (every 30d)" for action in DRILLED if action != "refund"]
    )
    assert await cadence_of(namespace, "refund") == timedelta(days=7)

    deleted = await sync_drill_schedules(namespace, cancel_gone, task_queue="drills-q")
    assert sorted(deleted) == sorted(
        [
            "unchanged drill-refund (every 7d)",
            "unchanged drill-change_address (every 30d)",
            "unchanged drill-book_appointment (every 30d)",
            "deleted drill-cancel_order (no reversible action of that name in charter v4)",
        ]
    )
    await listed(namespace, DRILL_IDS - {"drill-cancel_order"})

    again = await sync_drill_schedules(namespace, cancel_gone, task_queue="drills-q")
    assert sorted(again) == sorted(
        [
            "unchanged drill-refund (every 7d)",
            "unchanged drill-change_address (every 30d)",
            "unchanged drill-book_appointment (every 30d)",
        ]
    )


async def test_sync_moves_schedules_to_a_new_task_queue(namespace: Client) -> None:
    reference = load_charter(CHARTER)
    await sync_drill_schedules(namespace, reference, task_queue="old-q")
    moved = await sync_drill_schedules(namespace, reference, task_queue="new-q")
    assert sorted(moved) == sorted(f"updated drill-{action} (every 30d)" for action in DRILLED)
    started = (await namespace.get_schedule_handle("drill-refund").describe()).schedule.action
    assert isinstance(started, ScheduleActionStartWorkflow) and started.task_queue == "new-q"


async def test_two_syncs_at_once_both_succeed(namespace: Client) -> None:
    """`cxgov up` and an operator's `cxgov drills sync` at the same time: the stale schedule goes once, no error."""
    reference = load_charter(CHARTER)
    await sync_drill_schedules(namespace, reference, task_queue="drills-q")
    stale = load_charter(CHARTER).model_copy(deep=True)
    stale.actions["close_account"] = stale.actions["refund"]
    await sync_drill_schedules(namespace, stale, task_queue="drills-q")
    await listed(namespace, DRILL_IDS | {"drill-close_account"})

    first, second = await asyncio.gather(
        sync_drill_schedules(namespace, reference, task_queue="drills-q"),
        sync_drill_schedules(namespace, reference, task_queue="drills-q"),
    )
    deletions = [change for change in first + second if change.startswith("deleted")]
    assert deletions == ["deleted drill-close_account (no reversible action of that name in charter v3)"]
    await listed(namespace, DRILL_IDS)


async def test_each_schedule_fires_a_drill_at_its_cadence(
    namespace: Client, drill_stack: DrillStackFactory, ledger: DrillLedger, tmp_path: Path
) -> None:
    charter_path = write_charter(tmp_path, REFUND_WEEKLY)
    stack = await drill_stack(temporal=namespace, charter_path=charter_path)
    await sync_drill_schedules(namespace, load_charter(charter_path), task_queue=stack.task_queue)

    for action, every in (("refund", timedelta(days=7)), ("change_address", timedelta(days=30))):
        info = (await namespace.get_schedule_handle(drill_schedule_id(action)).describe()).info
        upcoming = info.next_action_times
        assert len(upcoming) >= 3
        assert {later - earlier for earlier, later in pairwise(upcoming)} == {every}

    handle = namespace.get_schedule_handle("drill-refund")
    await handle.trigger()
    described = await eventually(handle.describe, lambda found: bool(found.info.recent_actions), what="a run")
    [run] = described.info.recent_actions
    started = run.action
    assert started.workflow_id.startswith("drill-refund-")  # a started workflow id gets the fire time as suffix
    result = await namespace.get_workflow_handle(started.workflow_id, result_type=DrillResult).result()
    assert (result.action, result.passed, result.charter_version) == ("refund", True, 4)
    latest = ledger.drills(action="refund").latest
    assert latest is not None and latest.drill_id == result.drill_id
    assert ledger.drills(action="change_address").latest is None
