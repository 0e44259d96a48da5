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

from cxgov.wire import ArchiveInput, RetentionInput
from workflows.audit import AuditArchiveWorkflow, AuditRetentionWorkflow

ARCHIVE_SCHEDULE = "audit-archive"
RETENTION_SCHEDULE = "audit-retention"
ARCHIVE_EVERY = timedelta(minutes=1)
RETENTION_EVERY = timedelta(days=1)


def _schedule(workflow: Any, arg: Any, *, workflow_id: str, task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=1),
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
    """The archiver every minute and the retention purge every day."""
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
            ),
        ),
    ]
