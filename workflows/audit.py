"""Scheduled audit workflows: the archiver (which tells people about runs that fail to archive) and the retention
purge."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from cxgov.notices import archive_failed_notice
    from cxgov.wire import ArchiveInput, ArchiveResult, RetentionInput, RetentionResult
    from workflows.notice import tell

ARCHIVE_FAILURE_NOTICES = "archive-failure-notices"
"""Patch: the archiver tells people about runs that failed to archive (absent from older histories)."""


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
        if result.first_failures and workflow.patched(ARCHIVE_FAILURE_NOTICES):
            for failed in result.first_failures:
                await tell(
                    archive_failed_notice(
                        failed.run_id,
                        workflow_id=failed.workflow_id,
                        error=failed.error,
                        roles=result.tell_roles,
                        people=result.tell_people,
                    )
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
