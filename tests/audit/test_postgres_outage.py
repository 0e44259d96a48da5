"""The audit database (a real PostgreSQL server) stopped in the middle of a run, then started again.

Decisions that need the budget or drill ledger fail closed (retried, then denied `0-ledger-unavailable`, never
allowed, nothing done in the system of record); the archiver's pass fails instead of recording anything as
failed, and once the database is back the next pass archives every run exactly once.

Runs only where the machine's PostgreSQL can be stopped and started (`pg_ctlcluster`, as `.ci/run` uses it) and
CXGOV_TEST_POSTGRES_URL points at it; the server is always started again, even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from harness import CHARTER, SEED, Stack, eventually, own_namespace, start_stack
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.failures import ArchiveFailures
from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import archive_lag, sync_closed
from cxgov.budgets import BudgetLedger
from cxgov.charter import load_charter
from cxgov.charter.models import Budget
from cxgov.commands.questions import last_archive_failure
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.settings import Settings
from cxgov.wire import ArchiveInput, ArchiveResult, Status
from workflows.audit import AuditArchiveWorkflow

POSTGRES_URL = os.environ.get("CXGOV_TEST_POSTGRES_URL") or None


def _cluster() -> list[str] | None:
    if POSTGRES_URL is None or shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    return ["pg_ctlcluster", versions[-1].name, "main"] if versions else None


CLUSTER = _cluster()
pytestmark = pytest.mark.skipif(CLUSTER is None, reason="needs a local PostgreSQL cluster and CXGOV_TEST_POSTGRES_URL")


def postgres(command: str) -> None:
    """Stop or start the cluster; either is a no-op when it is already so (pg_ctlcluster then exits 2)."""
    assert CLUSTER is not None
    subprocess.run([*CLUSTER, command, *(["-m", "fast"] if command == "stop" else [])], timeout=60)
    running = subprocess.run([*CLUSTER, "status"], capture_output=True, timeout=30).returncode == 0
    assert running == (command == "start"), f"the PostgreSQL cluster did not {command}"


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A fresh schema on the test server; the server is running again when the test ends, whatever happened."""
    assert POSTGRES_URL is not None
    schema = f"outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        postgres("start")
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def refund(amount: str) -> dict[str, str]:
    return {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": amount}


async def test_decisions_fail_closed_and_archiving_resumes_when_the_audit_database_comes_back(
    dev_env: WorkflowEnvironment, schema_url: str, tmp_path: Path
) -> None:
    client = await own_namespace(dev_env, prefix="pg-outage")
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    archive, budgets, drills = AuditArchive(schema_url), BudgetLedger(schema_url), DrillLedger(schema_url)
    failures = ArchiveFailures(schema_url)
    stack, worker = await start_stack(
        client,
        box,
        charter_path=CHARTER,
        archive=archive,
        budgets=budgets,
        drills=drills,
        drill_workspace=tmp_path / "drills",
    )
    try:
        async with worker:
            fields = {"actor": "support-bot", "customer": "C-100", "channel": "chat", "reason": "arrived torn"}
            before = await stack.client.act(
                stack.client.request(action="refund", params=refund("20"), **fields), wait=30
            )
            # Never drilled, so a person approves: rule 5 read the drill ledger, rule 4 reserved the budget.
            assert (before.status, before.decision and before.decision.rule) == (Status.AWAITING_APPROVAL, "5-drill")
            assert budgets.used(actor="support-bot", action="refund", budget=_budget(), now=_now()) == (
                1,
                Decimal("20"),
            )
            world_before = box.world_snapshot()

            postgres("stop")
            during = await stack.client.act(
                stack.client.request(action="refund", params=refund("15"), **fields), wait=60
            )
            assert during.status == Status.DENIED, during
            assert during.decision is not None and during.decision.rule == "0-ledger-unavailable"
            assert "the budget and drill ledgers cannot be read" in during.decision.reasons[0]
            assert box.world_snapshot() == world_before, "nothing was done in the system of record"
            with pytest.raises(Exception) as stopped:
                await sync_closed(client, archive, failures=failures)
            assert "connect" in str(stopped.value).lower() or "server" in str(stopped.value).lower()
            with pytest.raises(WorkflowFailureError):  # the scheduled pass fails too (retried, then failed)
                await archive_pass(stack)

            postgres("start")

            async def newest_failure() -> str | None:
                return await last_archive_failure(Settings(), client=stack.temporal)

            failed = await eventually(newest_failure, lambda found: found is not None, what="the failed pass is listed")
            assert failed is not None and failed.startswith("the archive pass at ")
            assert " failed: " in failed and "OperationalError" in failed, failed
            resumed = await archive_pass(stack)
            assert (resumed.failed, resumed.archived) == ([], 1), "the pass after the outage archives the denied action"
            # A good pass clears it, once visibility lists that pass (it may lag the pass by a moment under load).
            await eventually(newest_failure, lambda found: found is None, within=10, what="a good pass clears it")
            report = await sync_closed(client, archive, failures=failures)
            assert (report.failed, report.archived, failures.open()) == ([], 0, [])
            again = await sync_closed(client, archive, failures=failures, full=True)
            assert again.archived == 0, "nothing is archived twice"
            denied = [r for r in archive.query(kind="action") if r.action_id == during.action_id]
            assert [(r.status, r.rule) for r in denied] == [("denied", "0-ledger-unavailable")]
            assert archive.verify().ok
            _, missing = await archive_lag(client, archive, now=_now())
            assert missing == 0, "the archive caught up"
            after = await stack.client.act(
                stack.client.request(action="refund", params=refund("10"), **fields), wait=30
            )
            assert after.status == Status.AWAITING_APPROVAL, "decisions work again once the database is back"
    finally:
        postgres("start")
        for opened in (failures, drills, budgets, archive):
            opened.close()
        box.close()


async def archive_pass(stack: Stack) -> ArchiveResult:
    """One run of the `audit-archive` workflow, as the schedule starts it."""
    return await stack.temporal.execute_workflow(
        AuditArchiveWorkflow.run, ArchiveInput(), id=f"audit-archive-{uuid.uuid4()}", task_queue=stack.task_queue
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _budget() -> Budget:
    return next(grant.budget for grant in load_charter(CHARTER).grants if grant.budget is not None)
