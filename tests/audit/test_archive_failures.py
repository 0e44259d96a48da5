"""A run that cannot be archived is never retried silently: it is recorded, retried by id every pass, listed by
`gaps`, and its people are told once. Against a real Temporal dev server and a real SQLite archive."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from harness import CHARTER, eventually, own_namespace, write_charter
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.audit import AuditActivities
from cxgov.audit.failures import ArchiveFailures
from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import closed_query, sync_closed
from cxgov.charter import CharterCache, load_charter
from cxgov.gaps import gap_report
from cxgov.notices import archive_failed_notice
from cxgov.notify.models import Event
from cxgov.wire import ArchiveInput

HOLDERS = ("grants:                        # anything", "hold_roles: [finance-ops]\n\ngrants:  # anything")


async def broken_action(client: Client) -> tuple[str, str]:
    """An `action` workflow whose input is not an action request, terminated before any worker ran it: closed,
    archivable by type, and impossible to derive records from."""
    workflow_id = f"action-{uuid.uuid4()}"
    handle = await client.start_workflow("action", "not a request", id=workflow_id, task_queue=f"none-{uuid.uuid4()}")
    await handle.terminate(reason="test: a history the archiver cannot read")
    query = closed_query(since=None) + f' AND WorkflowId = "{workflow_id}"'

    async def listed() -> int:
        return len([execution async for execution in client.list_workflows(query)])

    await eventually(listed, lambda count: count == 1, within=10, what="the terminated run is visible")
    assert handle.result_run_id is not None
    return workflow_id, handle.result_run_id


async def test_a_run_that_cannot_be_archived_is_recorded_retried_shown_and_told_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = await own_namespace(dev_env, prefix="unarchivable")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    archive, failures = AuditArchive(url), ArchiveFailures(url)
    try:
        workflow_id, run_id = await broken_action(client)

        first = await sync_closed(client, archive, failures=failures)
        assert (first.failed, [f.run_id for f in first.first_failures]) == ([run_id], [run_id])
        [recorded] = failures.open()
        assert (recorded.workflow_id, recorded.attempts) == (workflow_id, 1)
        assert recorded.error, "the error is kept"

        # Retried every pass, by id, even a full pass later; told only the first time.
        again = await sync_closed(client, archive, failures=failures)
        assert (again.failed, again.first_failures) == ([run_id], [])
        assert [f.attempts for f in failures.open()] == [2]
        assert archive.archived(run_ids=[run_id]) == set()

        report = gap_report(load_charter(CHARTER), archive=archive, ledger=None, now=datetime.now(UTC))
        report = report.model_copy(update={"unarchived": failures.open()})
        assert [f.run_id for f in report.unarchived] == [run_id] and report.findings >= 1
    finally:
        failures.close()
        archive.close()


async def test_the_archiver_activity_names_who_to_tell(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = await own_namespace(dev_env, prefix="unarchivable")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    archive, failures = AuditArchive(url), ArchiveFailures(url)
    charter = write_charter(tmp_path, HOLDERS)
    try:
        workflow_id, run_id = await broken_action(client)
        activities = AuditActivities(client=client, archive=archive, charters=CharterCache(charter), failures=failures)
        result = await ActivityEnvironment().run(activities.archive_closed, ArchiveInput())
        assert result.failed == [run_id]
        [failed] = result.first_failures
        assert (result.tell_roles, result.tell_people) == (
            ["finance-ops"],
            [signoff.by for signoff in load_charter(charter).signoffs],
        )
        notice = archive_failed_notice(
            failed.run_id, workflow_id=failed.workflow_id, error=failed.error, roles=["finance-ops"], people=[]
        )
        assert (notice.event, notice.action_id, notice.key) == (
            Event.ARCHIVE_FAILED,
            workflow_id,
            f"archive-{run_id}:archive_failed",
        )
        assert notice.subject == f"Audit archive failed: {workflow_id}"
        assert "retried on every archive pass and listed by `cxgov gaps`" in notice.body

        later = await ActivityEnvironment().run(activities.archive_closed, ArchiveInput())
        assert (later.failed, later.first_failures) == ([run_id], []), "told once per run"
    finally:
        failures.close()
        archive.close()
