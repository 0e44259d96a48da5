"""Audit activities: archive closed workflows, purge what is past the charter's retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import sync_closed
from cxgov.charter import CharterCache
from cxgov.wire import ArchiveInput, ArchiveResult, RetentionInput, RetentionResult


class AuditActivities:
    """The archive's side effects, built with the Temporal client, the archive and the charter."""

    def __init__(
        self,
        *,
        client: Client,
        archive: AuditArchive,
        charters: CharterCache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.archive = archive
        self.charters = charters
        self.clock = clock

    @activity.defn(name="archive_closed")
    async def archive_closed(self, input: ArchiveInput) -> ArchiveResult:
        """Copy closed action and reversal runs into the archive (history JSON + hash-chained records)."""
        report = await sync_closed(
            self.client, self.archive, full=input.full, clock=self.clock, progress=lambda n: activity.heartbeat(n)
        )
        return ArchiveResult(
            archived=report.archived,
            already=report.already,
            failed=report.failed,
            lag_seconds=report.lag(self.clock()).total_seconds(),
        )

    @activity.defn(name="purge_expired")
    async def purge_expired(self, input: RetentionInput) -> RetentionResult:
        """Purge records older than the charter's retention_days and write an expiry receipt."""
        days = self.charters.get().retention_days
        now = self.clock()
        receipt = await asyncio.to_thread(self.archive.purge, before=now - timedelta(days=days), now=now)
        if receipt is None:
            return RetentionResult(purged=0, retention_days=days)
        return RetentionResult(purged=receipt.count, retention_days=days, receipt_seq=receipt.seq)
