"""Scheduled audit workflows: the archiver and the retention purge. Each only calls its activity."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from cxgov.wire import ArchiveInput, ArchiveResult, RetentionInput, RetentionResult


@workflow.defn(name="audit-archive")
class AuditArchiveWorkflow:
    """Copy every closed action and reversal into the audit archive."""

    @workflow.run
    async def run(self, input: ArchiveInput) -> ArchiveResult:
        result: ArchiveResult = await workflow.execute_activity(
            "archive_closed",
            input,
            result_type=ArchiveResult,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result


@workflow.defn(name="audit-retention")
class AuditRetentionWorkflow:
    """Purge archive records older than the charter's retention_days, leaving an expiry receipt."""

    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionResult:
        result: RetentionResult = await workflow.execute_activity(
            "purge_expired",
            input,
            result_type=RetentionResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result
