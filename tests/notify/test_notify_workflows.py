"""Notifications sent by the workflows themselves, end to end: a real worker, a real SMTP server and a real webhook
receiver. Each event reaches its people exactly once, across a worker restart; a channel that fails is retried
and recorded (nobody was told) without holding up the action; a person without a route is recorded too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api.apikit import serving
from harness import (
    TEST_COMPENSATION_ATTEMPTS,
    TRUSTED,
    Stack,
    eventually,
    start_stack,
    terminate_running,
    write_charter,
)
from notifykit import PUBLIC_URL, Hook, Mailbox, write
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cxgov.charter import CharterCache
from cxgov.commands.questions import gaps_text
from cxgov.connectors import Systems
from cxgov.gaps import GapReport
from cxgov.notify import NoticeFailure, Notifier, load_routes
from cxgov.sandbox import Sandbox
from cxgov.wire import Status
from worker import build_worker
from worker.build import NOT_ENFORCED

REFUND_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
SUMMARY = "support-bot refund 120 USD for C-100"
FAST_LADDER = ("step_timeout: 4h", "step_timeout: 3s")
"""Refund's ladder: support-lead (ana, ben) for 3 s, then its coverage duty-manager (carla) for 3 s, then expired."""


@pytest.fixture
def charter(tmp_path: Path) -> Path:
    return write_charter(tmp_path, FAST_LADDER)


def notifier_for(tmp_path: Path, charter: Path, routes: str) -> Notifier:
    charters = CharterCache(charter)
    return Notifier(
        load_routes(write(tmp_path / "notify.yaml", routes), env={}),
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        public_url=PUBLIC_URL,
        members=lambda role: charters.get().active_members(role),
    )


@contextlib.asynccontextmanager
async def restarted(stack: Stack, sandbox: Sandbox, notifier: Notifier) -> AsyncIterator[Worker]:
    """A second worker on the stack's task queue: what a restarted worker process is."""
    worker = build_worker(
        stack.temporal,
        task_queue=stack.task_queue,
        charter_path=stack.charter_path,
        systems=Systems.serving(sandbox),
        trusted_keys=TRUSTED,
        notifier=notifier,
        drills=NOT_ENFORCED,
        budgets=NOT_ENFORCED,
        compensation_attempts=TEST_COMPENSATION_ATTEMPTS,
    )
    async with worker:
        yield worker


def mails_to(mailbox: Mailbox, address: str) -> list[str]:
    return [mail.subject for mail in mailbox.mails if address in mail.recipients]


async def test_each_event_reaches_its_people_once_across_a_worker_restart(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, charter: Path, tmp_path: Path, mailbox: Mailbox, hook: Hook
) -> None:
    notifier = notifier_for(
        tmp_path,
        charter,
        f"""
people:
  ana: ["{mailbox.url("ana@example.com")}"]
  carla: ["{mailbox.url("carla@example.com")}"]
  ben: ["{hook.url("json", "/ben")}"]
""",
    )
    stack, worker = await start_stack(dev_env.client, sandbox, charter_path=charter, notifier=notifier)
    try:
        async with worker:
            state = await stack.client.act(
                stack.client.request(
                    actor="support-bot",
                    action="refund",
                    customer="C-100",
                    channel="chat",
                    reason="jacket arrived torn",
                    params=REFUND_120,
                ),
                wait=20,
            )
            assert state.status == Status.AWAITING_APPROVAL
            await eventually(
                lambda: _counts(mailbox, hook),
                lambda counts: counts == (1, 0, 1),
                what="the approval request reaches ana by mail and ben by webhook",
            )
        # The first worker is gone; the ladder moves on under a new one, and nothing is told twice.
        async with restarted(stack, sandbox, notifier):
            await eventually(
                lambda: stack.client.status(state.action_id),
                lambda current: current.status == Status.EXPIRED,
                within=30,
                what="the action expires after both ladder phases",
            )
            await eventually(
                lambda: _counts(mailbox, hook),
                lambda counts: counts == (2, 1, 1),
                within=20,
                what="coverage (carla) and expiry (ana, support-bot's owner) are told",
            )
    finally:
        await terminate_running(stack.temporal, stack.task_queue)
        notifier.close()

    assert mails_to(mailbox, "ana@example.com") == [f"Approval needed: {SUMMARY}", f"Expired, not taken: {SUMMARY}"]
    assert mails_to(mailbox, "carla@example.com") == [f"Escalated to you: {SUMMARY}"]
    link = f"{PUBLIC_URL}/actions/{state.action_id}"
    for mail in mailbox.mails:
        assert link in mail.text and SUMMARY in mail.text
    escalated = next(mail for mail in mailbox.mails if "carla@example.com" in mail.recipients)
    assert "Nobody of support-lead decided in time: you cover for them." in escalated.text
    assert "Requested by support-bot for customer C-100: jacket arrived torn" in escalated.text
    [request] = hook.requests
    payload = request.json()
    assert request.path == "/ben"
    assert payload["title"] == f"Approval needed: {SUMMARY}"
    assert link in payload["message"]
    assert "Awaiting approval from support-lead: ana, ben" in payload["message"]
    assert notifier.failures() == []


async def test_a_failing_channel_is_retried_recorded_and_never_holds_up_the_action(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, charter: Path, tmp_path: Path, mailbox: Mailbox
) -> None:
    hook = Hook(status=500)
    notifier = notifier_for(
        tmp_path,
        charter,
        f"""
people:
  ana: ["{mailbox.url("ana@example.com")}"]
  ben: ["{hook.url("json", "/ben")}"]
""",
    )
    stack, worker = await start_stack(dev_env.client, sandbox, charter_path=charter, notifier=notifier)
    try:
        async with worker:
            request = stack.client.request(
                actor="support-bot", action="refund", customer="C-100", channel="chat", reason="torn", params=REFUND_120
            )
            state = await stack.client.act(request, wait=20)
            assert state.status == Status.AWAITING_APPROVAL
            [untold] = await eventually(
                lambda: _failures(notifier), lambda found: len(found) == 1, what="ben's failed delivery is recorded"
            )
            assert (untold.target, untold.event, untold.action_id) == (
                "person:ben",
                "approval_requested",
                state.action_id,
            )
            assert "500" in untold.error
            # The action does not wait on ben's channel: ana approves, and it completes.
            approved = await stack.client.decide(state.action_id, verdict="approve", person="ana", reason="photos ok")
            assert approved.accepted
            done = await stack.client.wait_settled(state.action_id, wait=20)
            assert done.status == Status.COMPLETED
        hook.status = 200
        async with restarted(stack, sandbox, notifier):
            await eventually(
                lambda: _failures(notifier), lambda found: found == [], within=30, what="the retry reaches ben"
            )
    finally:
        await terminate_running(stack.temporal, stack.task_queue)
        notifier.close()
        hook.stop()

    answered = [request.answered for request in hook.requests]
    assert answered[-1] == 200 and answered.count(200) == 1 and set(answered[:-1]) == {500}
    assert mails_to(mailbox, "ana@example.com") == [f"Approval needed: {SUMMARY}"]


async def test_a_person_without_a_route_is_recorded_as_not_told(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, charter: Path, tmp_path: Path, mailbox: Mailbox
) -> None:
    notifier = notifier_for(tmp_path, charter, f'people:\n  ana: ["{mailbox.url("ana@example.com")}"]\n')
    stack, worker = await start_stack(dev_env.client, sandbox, charter_path=charter, notifier=notifier)
    try:
        async with worker:
            request = stack.client.request(
                actor="support-bot", action="refund", customer="C-100", channel="chat", reason="torn", params=REFUND_120
            )
            state = await stack.client.act(request, wait=20)
            assert state.status == Status.AWAITING_APPROVAL
            [untold] = await eventually(
                lambda: _failures(notifier), lambda found: len(found) == 1, what="ben has no route: recorded"
            )
            # `gaps` (here through the HTTP API, on the same database) lists who was not told.
            async with serving(stack, tmp_path) as api, api.client("ana") as ana:
                gaps = (await ana.get("/v1/gaps")).json()
            [listed] = gaps["untold"]
            assert (listed["target"], listed["event"], listed["action_id"]) == (
                "person:ben",
                "approval_requested",
                state.action_id,
            )
            assert listed["subject"] == f"Approval needed: {SUMMARY}"
            text = gaps_text(GapReport.model_validate(gaps))
            told = text.index("nobody was told: 1")
            assert f"  approval_requested of {state.action_id} to person:ben: {untold.error}" in text[told:]
    finally:
        await terminate_running(stack.temporal, stack.task_queue)
        notifier.close()

    assert (untold.target, untold.channel) == ("person:ben", None)
    assert "no route" in untold.error and "ben" in untold.error
    assert mails_to(mailbox, "ana@example.com") == [f"Approval needed: {SUMMARY}"]


async def _counts(mailbox: Mailbox, hook: Hook) -> tuple[int, int, int]:
    """(mails to ana, mails to carla, requests to ben's webhook)."""
    return (
        len(mails_to(mailbox, "ana@example.com")),
        len(mails_to(mailbox, "carla@example.com")),
        len(hook.requests),
    )


async def _failures(notifier: Notifier) -> list[NoticeFailure]:
    return list(notifier.failures())


async def test_failed_undos_reach_the_reversal_owner_role(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, charter: Path, tmp_path: Path, mailbox: Mailbox, hook: Hook
) -> None:
    # support-lead's own channel is a webhook; finance-ops is reached through farid's mail.
    notifier = notifier_for(
        tmp_path,
        charter,
        f"""
people:
  farid: ["{mailbox.url("farid@example.com")}"]
roles:
  support-lead: ["{hook.url("json", "/support-lead")}"]
""",
    )
    stack, worker = await start_stack(dev_env.client, sandbox, charter_path=charter, notifier=notifier)
    try:
        async with worker:
            # A booking whose verify fails and whose undo fails too: compensation_failed, to support-lead.
            sandbox.add_fault(action="book_appointment", step="verify")
            sandbox.add_fault(action="book_appointment", step="compensate", times=3)
            booking = await stack.client.act(
                stack.client.request(
                    actor="support-bot",
                    action="book_appointment",
                    customer="C-100",
                    channel="chat",
                    reason="checkup",
                    params={"clinic": "north", "slot": "2026-12-01T09:00"},
                ),
                wait=30,
            )
            assert booking.status == Status.COMPENSATION_FAILED
            # A refund whose reversal cannot undo it: reversal_failed, to finance-ops.
            refund = await stack.client.act(
                stack.client.request(
                    actor="support-bot",
                    action="refund",
                    customer="C-100",
                    channel="chat",
                    reason="torn",
                    params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"},
                ),
                wait=20,
            )
            sandbox.add_fault(action="refund", step="compensate", times=3)
            reversal = await stack.client.reverse(refund.action_id, person="farid", reason="customer kept it")
            assert reversal.status == Status.REVERSAL_FAILED
            await eventually(
                lambda: _counts_of(mailbox, hook),
                lambda counts: counts == (1, 1),
                within=20,
                what="support-lead's webhook and farid's mail are told",
            )
    finally:
        await terminate_running(stack.temporal, stack.task_queue)
        notifier.close()

    [told] = hook.requests
    payload = told.json()
    assert payload["title"] == "Compensation failed, act now: support-bot book_appointment for C-100"
    assert payload["type"] == "warning"
    assert f"{PUBLIC_URL}/actions/{booking.action_id}" in payload["message"]
    assert "undo it by hand, following the charter's reversal procedure" in payload["message"]
    [mail] = mailbox.mails
    assert mail.recipients == ["farid@example.com"]
    assert mail.subject == "Reversal failed: support-bot refund for C-100"
    assert "farid asked to reverse support-bot refund for C-100: customer kept it" in mail.text
    assert "Procedure: Claw the refund back before the payout runs" in mail.text
    assert f"{PUBLIC_URL}/actions/{refund.action_id}" in mail.text
    assert notifier.failures() == []


async def _counts_of(mailbox: Mailbox, hook: Hook) -> tuple[int, int]:
    return len(mailbox.mails), len(hook.requests)
