"""Temporal Schedules of the embedded stack, created or updated idempotently (trap 11)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from cxgov.charter import Charter
from cxgov.charter.models import format_duration
from cxgov.drills import DRILL_PREFIX, drill_schedule_id
from cxgov.summaries import drill_summary
from cxgov.wire import ArchiveInput, DrillInput, DrillWatchInput, RetentionInput
from workflows.audit import AuditArchiveWorkflow, AuditRetentionWorkflow
from workflows.drill import DrillWatchWorkflow, DrillWorkflow

DRILLS_WATCH_SCHEDULE = "drills-watch"
DRILLS_WATCH_EVERY = timedelta(hours=1)
ARCHIVE_SCHEDULE = "audit-archive"
RETENTION_SCHEDULE = "audit-retention"
ARCHIVE_EVERY = timedelta(minutes=1)
RETENTION_EVERY = timedelta(days=1)


def _schedule(
    workflow: Any, arg: Any, *, workflow_id: str, task_queue: str, every: timedelta, summary: str
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=1),
            static_summary=summary,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or bring an existing one in line; returns what was done."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return f"created schedule {schedule_id}"
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return f"updated schedule {schedule_id}"


async def ensure_audit_schedules(client: Client, *, task_queue: str) -> list[str]:
    """The archiver every minute, the retention purge every day, and the overdue-drill watch every hour."""
    return [
        await ensure_schedule(
            client,
            ARCHIVE_SCHEDULE,
            _schedule(
                AuditArchiveWorkflow.run,
                ArchiveInput(),
                workflow_id="audit-archive",
                task_queue=task_queue,
                every=ARCHIVE_EVERY,
                summary="archive settled histories into the hash-chained audit archive",
            ),
        ),
        await ensure_schedule(
            client,
            RETENTION_SCHEDULE,
            _schedule(
                AuditRetentionWorkflow.run,
                RetentionInput(),
                workflow_id="audit-retention",
                task_queue=task_queue,
                every=RETENTION_EVERY,
                summary="purge audit records past the charter's retention",
            ),
        ),
        await ensure_schedule(
            client,
            DRILLS_WATCH_SCHEDULE,
            _schedule(
                DrillWatchWorkflow.run,
                DrillWatchInput(),
                workflow_id=DRILLS_WATCH_SCHEDULE,
                task_queue=task_queue,
                every=DRILLS_WATCH_EVERY,
                summary="tell the owners of reversible actions whose drills are overdue",
            ),
        ),
    ]


async def sync_drill_schedules(client: Client, charter: Charter, *, task_queue: str) -> list[str]:
    """Create, update and delete `drill-<action>` schedules to match the charter; returns what changed."""
    wanted = charter.drilled_actions()
    existing = {listed.id async for listed in await client.list_schedules() if listed.id.startswith(DRILL_PREFIX)}
    changes: list[str] = []
    for action, every in wanted.items():
        schedule_id = drill_schedule_id(action)
        schedule = _schedule(
            DrillWorkflow.run,
            DrillInput(action=action),
            workflow_id=schedule_id,
            task_queue=task_queue,
            every=every,
            summary=drill_summary(action),
        )
        try:
            await client.create_schedule(schedule_id, schedule)
            changes.append(f"created {schedule_id} (every {format_duration(every)})")
            continue
        except ScheduleAlreadyRunningError:
            pass
        handle = client.get_schedule_handle(schedule_id)
        current = (await handle.describe()).schedule
        intervals = current.spec.intervals
        same_cadence = len(intervals) == 1 and intervals[0].every == every
        same_queue = isinstance(current.action, ScheduleActionStartWorkflow) and current.action.task_queue == task_queue
        summarized = isinstance(current.action, ScheduleActionStartWorkflow) and bool(current.action.static_summary)
        if same_cadence and same_queue and summarized:
            changes.append(f"unchanged {schedule_id} (every {format_duration(every)})")
            continue

        def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=new)

        await handle.update(replace)
        changes.append(f"updated {schedule_id} (every {format_duration(every)})")
    for schedule_id in sorted(existing - {drill_schedule_id(action) for action in wanted}):
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as err:
            # Gone already: a concurrent sync deleted it, or the listing (eventually consistent) lagged a delete.
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        changes.append(f"deleted {schedule_id} (no reversible action of that name in charter v{charter.version})")
    return changes


async def trigger_drills(client: Client, charter: Charter) -> list[str]:
    """Run every drill schedule once now, so a fresh stack earns autonomy within a minute."""
    triggered = []
    for action in charter.drilled_actions():
        await client.get_schedule_handle(drill_schedule_id(action)).trigger()
        triggered.append(drill_schedule_id(action))
    return triggered


async def next_drill_runs(client: Client, charter: Charter) -> dict[str, Any]:
    """When each reversible action's drill schedule fires next (actions without a schedule are left out)."""
    found: dict[str, Any] = {}
    for action in charter.drilled_actions():
        try:
            description = await client.get_schedule_handle(drill_schedule_id(action)).describe()
        except RPCError:  # no schedule for this action (yet): shown as such
            continue
        upcoming = description.info.next_action_times
        found[action] = upcoming[0] if upcoming else None
    return found
