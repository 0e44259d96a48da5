"""Audit activities: archive closed workflows, purge what is past the charter's retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client

from cxgov.audit.failures import ArchiveFailures
from cxgov.audit.store import AuditArchive, ExpiryReceipt
from cxgov.audit.sync import sync_closed
from cxgov.charter import CharterCache
from cxgov.settings import Settings, retention_floor_days
from cxgov.wire import ArchiveInput, ArchiveResult, RetentionInput, RetentionResult, UnarchivedRun


class AuditActivities:
    """The archive's side effects, built with the Temporal client, the archive and the charter."""

    def __init__(
        self,
        *,
        client: Client,
        archive: AuditArchive,
        charters: CharterCache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        failures: ArchiveFailures | None = None,
    ) -> None:
        self.client = client
        self.archive = archive
        self.charters = charters
        self.clock = clock
        self.failures = failures

    @activity.defn(name="archive_closed")
    async def archive_closed(self, input: ArchiveInput) -> ArchiveResult:
        """Copy closed action and reversal runs into the archive (history JSON + hash-chained records)."""
        report = await sync_closed(
            self.client,
            self.archive,
            full=input.full,
            clock=self.clock,
            progress=lambda n: activity.heartbeat(n),
            failures=self.failures,
        )
        roles: list[str] = []
        people: list[str] = []
        if report.first_failures:
            charter = self.charters.get()
            roles = list(dict.fromkeys([*charter.hold_roles, *charter.freeze_roles]))
            people = list(dict.fromkeys(signoff.by for signoff in charter.signoffs))
        return ArchiveResult(
            archived=report.archived,
            already=report.already,
            failed=report.failed,
            lag_seconds=report.lag(self.clock()).total_seconds(),
            first_failures=[
                UnarchivedRun(run_id=f.run_id, workflow_id=f.workflow_id, error=f.error) for f in report.first_failures
            ],
            tell_roles=roles,
            tell_people=people,
        )

    def _purge(self, *, before: datetime, now: datetime) -> ExpiryReceipt | None:
        """Purge through CXGOV_RETENTION_DATABASE_URL when set (the only role allowed to delete evidence)."""
        url = Settings().retention_database_url
        if url is None or url == self.archive.url:
            return self.archive.purge(before=before, now=now)
        with AuditArchive(url) as purger:
            return purger.purge(before=before, now=now)

    @activity.defn(name="purge_expired")
    async def purge_expired(self, input: RetentionInput) -> RetentionResult:
        """Purge records older than the charter's retention_days (never below CXGOV_RETENTION_FLOOR_DAYS), except
        those under a legal hold, and write an expiry receipt."""
        # The floor is set outside the charter; a charter below it is refused at load, and never purges below it.
        days = max(self.charters.get().retention_days, retention_floor_days())
        now = self.clock()
        receipt = await asyncio.to_thread(self._purge, before=now - timedelta(days=days), now=now)
        if receipt is None:
            return RetentionResult(purged=0, retention_days=days)
        return RetentionResult(purged=receipt.count, retention_days=days, receipt_seq=receipt.seq)
