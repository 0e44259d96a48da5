"""`cxgov questions` and `cxgov gaps` against the running system: real actions and a real reversal drill on the
dev server (a namespace of the test's own), archived by the real archiver, answered by the real CLI."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import CHARTER, SEED, TEST_SIGNER, TRUSTED, Outcome, in_process
from harness import own_namespace as fresh_namespace
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import archive_lag, sync_closed
from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, DrillInput, DrillResult, Status
from worker import build_worker
from worker.build import NOT_ENFORCED
from workflows.drill import DrillWorkflow

NO_SUCH_ACTION = "unknown action 'close_account': charter acme-retail declares no such action"


async def own_namespace(env: WorkflowEnvironment) -> tuple[str, Client]:
    """A fresh namespace, so the archive and the lag see only this test's runs."""
    client = await fresh_namespace(env, prefix="governance")
    return client.namespace, governed(client)


async def test_questions_and_gaps_answer_for_what_really_ran(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace, temporal = await own_namespace(dev_env)
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'audit.db'}"
    archive, ledger = AuditArchive(url), DrillLedger(url)
    sandbox = Sandbox(tmp_path / "sandbox.db")
    sandbox.load_world(seed=SEED)
    task_queue = f"test-governance-{uuid.uuid4()}"
    worker = build_worker(
        temporal,
        task_queue=task_queue,
        charter_path=CHARTER,
        systems=Systems.serving(sandbox),
        executor=ThreadPoolExecutor(max_workers=8),
        archive=archive,
        drills=ledger,
        drill_workspace=tmp_path / "drills",
        budgets=NOT_ENFORCED,
        trusted_keys=TRUSTED,
    )
    client = CxgovClient(temporal, task_queue=task_queue, charter_path=CHARTER, signer=TEST_SIGNER)

    async def act(action: str, params: dict[str, Any], reason: str = "asked") -> ActionState:
        request = client.request(
            actor="support-bot", action=action, customer="C-100", channel="chat", reason=reason, params=params
        )
        return await client.act(request, wait=20)

    try:
        async with worker:
            drilled: DrillResult = await temporal.execute_workflow(
                DrillWorkflow.run,
                DrillInput(action="refund"),
                id=f"drill-refund-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
            assert drilled.passed
            allowed = await act("refund", {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"})
            assert allowed.status == Status.COMPLETED
            escalated = await act("refund", {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"})
            assert escalated.status == Status.AWAITING_APPROVAL
            assert not (
                await client.decide(escalated.action_id, verdict="approve", person="omar", reason="me")
            ).accepted
            assert (await client.decide(escalated.action_id, verdict="approve", person="ana", reason="ok")).accepted
            assert (await client.wait_settled(escalated.action_id, wait=20)).status == Status.COMPLETED
            excluded = await act("refund", {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"})
            assert excluded.status == Status.DENIED
            # Never drilled and no ladder: what `questions` says about book_appointment is what the worker does.
            booking = await act("book_appointment", {"clinic": "north", "slot": "2026-12-01T09:00"})
            assert booking.status == Status.DENIED
            assert booking.decision is not None and booking.decision.rule == "5-no-ladder"
            await act("close_account", {}, reason="wants to leave")
            latest_gap = await act("close_account", {}, reason="close it please")
            assert latest_gap.decision is not None and latest_gap.decision.gap

            closed = 7  # the drill and six actions
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while (await archive_lag(temporal, archive, now=datetime.now(UTC)))[1] < closed:
                assert loop.time() < deadline, "visibility never listed the closed runs"
                await asyncio.sleep(0.05)
            report = await sync_closed(temporal, archive)
            assert (report.archived, report.failed) == (closed, [])

            for name in [name for name in os.environ if name.startswith("CXGOV_")]:
                monkeypatch.delenv(name)
            monkeypatch.setenv("CXGOV_HOME", str(home))
            monkeypatch.setenv("CXGOV_CHARTER", str(CHARTER))
            monkeypatch.setenv("CXGOV_NAMESPACE", namespace)
            monkeypatch.setenv("CXGOV_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
            run = in_process(capsys)

            async def cxgov(*args: str) -> Outcome:
                # The CLI runs its own event loop (gaps asks Temporal for the archive's lag): off this one.
                return await asyncio.to_thread(run, *args)

            answers = (await cxgov("questions", "--actor", "support-bot", "--json")).json()
            text = await cxgov("questions", "--actor", "support-bot")
            omar = await cxgov("questions", "--actor", "omar")
            gaps_json = (await cxgov("gaps", "--json")).json()
            gaps_text = await cxgov("gaps")
    finally:
        ledger.close()
        sandbox.close()
        archive_count = archive.count(actor="support-bot", action="refund")
        archive.close()

    by_action = {a["action"]: a for a in answers["actors"][0]["actions"]}
    counts = {name: (a["auditability"]["records"], a["auditability"]["requests"]) for name, a in by_action.items()}
    assert counts == {"refund": (3, 3), "change_address": (0, 0), "cancel_order": (0, 0), "book_appointment": (1, 1)}
    assert counts["refund"][0] == archive_count
    refund_drill = by_action["refund"]["reversibility"]["drill"]
    assert refund_drill["last_result"] == "passed" and refund_drill["overdue"] is False
    assert datetime.fromisoformat(refund_drill["last_pass"]) == drilled.finished
    booking_drill = by_action["book_appointment"]["reversibility"]["drill"]
    assert booking_drill["overdue"] is True
    assert booking_drill["while_overdue"] == "every request is denied until a drill passes (no approval ladder)"
    audit = by_action["refund"]["auditability"]
    assert (audit["namespace"], audit["archive"]) == (namespace, url)

    assert text.code == 0, text
    lines = text.out.splitlines()
    assert len(lines) <= 40
    assert '    audit   3 requests archived; UI search: CxActor = "support-bot" AND CxAction = "refund"' in lines
    assert (
        "            OVERDUE: never drilled; every request is denied until a drill passes (no approval ladder)" in lines
    )
    assert any(
        line.startswith("    drill   every 30d (drill-refund); last run ") and "passed" in line for line in lines
    )
    assert any("0 requests archived, and 1 refused attempt(s) or reversal(s)" in line for line in omar.out.splitlines())

    [gap] = gaps_json["requests"]
    assert (gap["actor"], gap["action"], gap["count"]) == ("support-bot", "close_account", 2)
    assert (gap["example_action_id"], gap["example_reason"]) == (latest_gap.action_id, "close it please")
    assert gap["example_decision"] == NO_SUCH_ACTION
    first, last = (datetime.fromisoformat(gap[key]) for key in ("first_seen", "last_seen"))
    assert first < last
    lag = gaps_json["archive_lag"]
    assert lag is not None and (lag["unarchived"], lag["gap"]) == (0, False)
    assert gaps_json["notes"] == []
    assert (gaps_json["untold"], gaps_json["notifications_off"]) == ([], True)
    assert gaps_text.code == 0, gaps_text
    shown = gaps_text.out.splitlines()
    seen = (moment.strftime("%Y-%m-%d %H:%M:%S UTC") for moment in (first, last))
    assert shown[2] == "  support-bot / close_account: 2 requests, first {}, last {}".format(*seen)
    assert shown[3] == (f"    e.g. {latest_gap.action_id} for C-100 by chat, asked 'close it please': {NO_SUCH_ACTION}")
    assert any(line.startswith("archive lag: 0:00:00, 0 closed workflow(s) not yet archived") for line in shown)
