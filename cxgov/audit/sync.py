"""Copy closed workflows from Temporal into the audit archive: idempotent by run id, oldest first.

Runs are appended in close-time order, each in its own transaction, so a sync that is interrupted midway
leaves every run archived exactly once or not at all, and the next sync starts where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from cxgov.audit.derive import ARCHIVED_TYPES, derive
from cxgov.audit.failures import ArchiveFailure, ArchiveFailures
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
    first_failures: list[ArchiveFailure] = field(default_factory=list)
    """Runs that failed for the first time in this pass (their people are told once)."""

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
    failures: ArchiveFailures | None = None,
) -> SyncReport:
    """Archive every closed, unarchived action and reversal run; returns counts and what is left.

    A run that fails (its history cannot be fetched or derived, or the archive refuses its records) does not
    stop the others; with `failures`, it is recorded there and retried by id in every later pass, however old.
    The archive or Temporal being unreachable is not a run's failure: it is raised, so that the whole pass is
    retried and nothing is recorded as failed that was merely not tried.
    """
    report = SyncReport()
    todo = [(e.id, e.run_id, e.close_time) for e in await closed_unarchived(client, archive, full=full)]
    if failures is not None:
        queued = {run_id for _, run_id, _ in todo}
        earlier = [f for f in await asyncio.to_thread(failures.open) if f.run_id not in queued]
        done = await asyncio.to_thread(archive.archived, run_ids=[f.run_id for f in earlier])
        todo += [(f.workflow_id, f.run_id, f.closed_at) for f in earlier if f.run_id not in done]
        if done:
            await asyncio.to_thread(failures.resolved, run_ids=sorted(done), now=clock())
    for workflow_id, run_id, close_time in todo:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            run, records = derive(history, archived_at=clock())
            appended = await asyncio.to_thread(archive.append_run, run=run, records=records)
        except Exception as err:  # one bad run must not stop the others
            if _unreachable(err):
                raise
            report.failed.append(run_id)
            if report.oldest_unarchived is None or (close_time is not None and close_time < report.oldest_unarchived):
                report.oldest_unarchived = close_time
            if failures is not None:
                error = f"{type(err).__name__}: {err}"
                first = await asyncio.to_thread(
                    failures.failed,
                    run_id=run_id,
                    workflow_id=workflow_id,
                    closed_at=close_time,
                    error=error,
                    now=clock(),
                )
                if first:
                    report.first_failures.append(
                        ArchiveFailure(
                            run_id=run_id,
                            workflow_id=workflow_id,
                            closed_at=close_time,
                            first_failed=clock(),
                            last_failed=clock(),
                            attempts=1,
                            error=error[:2000],
                        )
                    )
            continue
        if failures is not None:
            await asyncio.to_thread(failures.resolved, run_ids=[run_id], now=clock())
        if appended:
            report.archived += 1
        else:
            report.already += 1
        if progress is not None:
            progress(report.archived)
    return report


def _unreachable(err: BaseException) -> bool:
    """Whether `err` says the archive's database or the Temporal server could not be reached (retry the pass)."""
    if isinstance(err, OperationalError | InterfaceError) or (
        isinstance(err, DBAPIError) and err.connection_invalidated
    ):
        return True
    return isinstance(err, RPCError) and err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


async def archive_lag(client: Client, archive: AuditArchive, *, now: datetime) -> tuple[timedelta, int]:
    """Age of the oldest closed workflow not yet archived, and how many there are (a full scan)."""
    missing = await closed_unarchived(client, archive, full=True)
    oldest = missing[0].close_time if missing else None
    return (now - oldest if oldest is not None else timedelta(0)), len(missing)
