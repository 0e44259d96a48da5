"""Copy closed workflows from Temporal into the audit archive: idempotent by run id, oldest first.

Runs are appended in close-time order, each in its own transaction, so a sync that is interrupted midway
leaves every run archived exactly once or not at all, and the next sync starts where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution

from cxgov.audit.derive import ARCHIVED_TYPES, derive
from cxgov.audit.store import AuditArchive

VISIBILITY_MARGIN = timedelta(hours=1)
"""How far before the archive's newest run an incremental sync looks again (visibility can lag)."""
BATCH = 200


@dataclass
class SyncReport:
    archived: int = 0
    already: int = 0
    failed: list[str] = field(default_factory=list)
    oldest_unarchived: datetime | None = None

    def lag(self, now: datetime) -> timedelta:
        """Age of the oldest closed workflow not in the archive (zero when none)."""
        return now - self.oldest_unarchived if self.oldest_unarchived is not None else timedelta(0)


def closed_query(*, since: datetime | None) -> str:
    """Visibility query for closed runs of the archived workflow types."""
    types = " OR ".join(f'WorkflowType = "{name}"' for name in ARCHIVED_TYPES)
    query = f'({types}) AND ExecutionStatus != "Running"'
    if since is not None:
        query += f' AND CloseTime >= "{since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"'
    return query


async def closed_unarchived(client: Client, archive: AuditArchive, *, full: bool) -> list[WorkflowExecution]:
    """Closed runs not yet archived, oldest close first."""
    newest = None if full else await asyncio.to_thread(archive.last_closed_at)
    since = newest - VISIBILITY_MARGIN if newest is not None else None
    found: list[WorkflowExecution] = []
    batch: list[WorkflowExecution] = []
    async for execution in client.list_workflows(closed_query(since=since)):
        batch.append(execution)
        if len(batch) >= BATCH:
            found += await _unarchived(archive, batch)
            batch = []
    found += await _unarchived(archive, batch)
    return sorted(found, key=lambda execution: execution.close_time or datetime.max.replace(tzinfo=UTC))


async def _unarchived(archive: AuditArchive, batch: list[WorkflowExecution]) -> list[WorkflowExecution]:
    if not batch:
        return []
    done = await asyncio.to_thread(archive.archived, run_ids=[execution.run_id for execution in batch])
    return [execution for execution in batch if execution.run_id not in done]


async def sync_closed(
    client: Client,
    archive: AuditArchive,
    *,
    full: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Archive every closed, unarchived action and reversal run; returns counts and what is left."""
    report = SyncReport()
    for execution in await closed_unarchived(client, archive, full=full):
        try:
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            run, records = derive(history, archived_at=clock())
            appended = await asyncio.to_thread(archive.append_run, run=run, records=records)
        except Exception:  # one bad run must not stop the others; it stays unarchived and is retried
            report.failed.append(execution.run_id)
            if report.oldest_unarchived is None:
                report.oldest_unarchived = execution.close_time
            continue
        if appended:
            report.archived += 1
        else:
            report.already += 1
        if progress is not None:
            progress(report.archived)
    return report


async def archive_lag(client: Client, archive: AuditArchive, *, now: datetime) -> tuple[timedelta, int]:
    """Age of the oldest closed workflow not yet archived, and how many there are (a full scan)."""
    missing = await closed_unarchived(client, archive, full=True)
    oldest = missing[0].close_time if missing else None
    return (now - oldest if oldest is not None else timedelta(0)), len(missing)
