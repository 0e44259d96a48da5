"""Approval attempts: every refusal is on the action's state and in its workflow history; retries apply once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from action_kit import (
    REFUND_JACKET_120,
    StackFactory,
    UpdateOnRecord,
    closed,
    history_updates,
    request,
)
from harness import SEED, Stack, start_stack, write_charter
from temporalio.testing import WorkflowEnvironment

from cxgov.errors import Denied
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, ApprovalRecord, Outcome, Status

OMAR_SUPPORT_LEAD = ("omar:  {roles: [tier1]}", "omar:  {roles: [tier1, support-lead], approve_limit: 1000}")
"""Charter change: tier1 omar is also a support lead, so he sits on the ladder of his own refunds."""


def write_seed_with_tv(tmp_path: Path) -> Path:
    """The reference world plus order O-1004 of gold customer C-200 with a 1200 TV line (room for a 900 refund)."""
    text = SEED.read_text()
    anchor = "orders:\n"
    assert text.count(anchor) == 1
    order = (
        "orders:\n"
        "  O-1004:\n"
        "    customer: C-200\n"
        "    placed: -1d\n"
        "    address: 9 Elm Rd, Shelbyville\n"
        "    dispatched: true\n"
        "    lines:\n"
        "      - {sku: TV-OLED-55, price: 1200}\n"
    )
    path = tmp_path / "sandbox-tv.yaml"
    path.write_text(text.replace(anchor, order))
    return path


def assert_on_record(state: ActionState, updates: list[UpdateOnRecord]) -> None:
    """Each approval record of the state is the outcome of one Update in the history, in the same order."""
    assert len(updates) == len(state.approvals)
    for update, record in zip(updates, state.approvals, strict=True):
        assert update.result is not None, f"update {update.update_id} has no outcome in the history"
        assert update.name == record.verdict
        assert update.attempt.person == record.person and update.attempt.reason == record.reason
        assert update.result.record == record
        assert update.result.accepted is record.accepted and update.result.refusal == record.refusal


def refused(record: ApprovalRecord, person: str, refusal: str) -> None:
    assert record.person == person and record.accepted is False
    assert record.refusal is not None and refusal in record.refusal, record.refusal


async def test_refused_approvals_are_recorded_in_state_and_history(stack: Stack) -> None:
    state = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)
    assert state.status == Status.AWAITING_APPROVAL
    before = stack.sandbox.world_snapshot()
    action_id = state.action_id

    wrong_person = await stack.client.decide(action_id, verdict="approve", person="omar", reason="I can do this")
    later_phase = await stack.client.decide(action_id, verdict="approve", person="carla", reason="covering early")
    wrong_digest = await stack.client.decide(
        action_id, verdict="approve", person="ana", reason="reviewed another one", digest="0" * 64
    )
    refused_deny = await stack.client.decide(action_id, verdict="deny", person="priya", reason="not allowed")

    for answer in (wrong_person, later_phase, wrong_digest, refused_deny):
        assert answer.accepted is False and answer.status == Status.AWAITING_APPROVAL
    waiting = await stack.client.status(action_id)
    assert waiting.status == Status.AWAITING_APPROVAL and waiting.pending is not None
    assert [record.accepted for record in waiting.approvals] == [False, False, False, False]
    omar, carla, ana_digest, priya = waiting.approvals
    refused(omar, "omar", "omar is not on ladder step 1 (role support-lead); who may decide now: ana, ben")
    refused(carla, "carla", "carla is not on ladder step 1 (role support-lead)")
    refused(ana_digest, "ana", "the approve names digest 000000000000, but this action's digest is")
    refused(priya, "priya", "priya is not on ladder step 1")
    assert priya.verdict == "deny"
    assert all((record.role, record.phase) == ("support-lead", 1) for record in waiting.approvals)
    assert stack.sandbox.world_snapshot() == before, "refused attempts change nothing"

    granted = await stack.client.decide(action_id, verdict="approve", person="ana", reason="checked the photos")
    assert granted.accepted

    done = await closed(stack, action_id)
    assert done.status == Status.COMPLETED
    assert [record.accepted for record in done.approvals] == [False, False, False, False, True]
    assert_on_record(done, await history_updates(stack.temporal, action_id))


async def test_requester_cannot_approve_their_own_request(stack_on: StackFactory, tmp_path: Path) -> None:
    charter = write_charter(tmp_path, OMAR_SUPPORT_LEAD)
    both = await stack_on(charter_path=charter)
    coat = {"order_id": "O-1003", "sku": "COAT-NAVY-M", "amount": "400"}

    state = await both.client.act(request(both, actor="omar", customer="C-300", params=coat), wait=20)

    assert state.status == Status.AWAITING_APPROVAL
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule, state.decision.charter_version) == (
        Outcome.ESCALATE,
        "5-approve-above",
        4,
    )
    assert state.pending is not None and state.pending.eligible == ["ana"], "not omar (requester), not ben (limit)"
    own_approve = await both.client.decide(state.action_id, verdict="approve", person="omar", reason="my call")
    own_deny = await both.client.decide(state.action_id, verdict="deny", person="omar", reason="changed my mind")
    for answer in (own_approve, own_deny):
        assert answer.accepted is False
        refused(answer.record, "omar", "omar requested this action; no one approves or denies their own request")

    assert (await both.client.decide(state.action_id, verdict="approve", person="ana", reason="fine")).accepted
    done = await closed(both, state.action_id)
    assert done.status == Status.COMPLETED
    assert [(r.person, r.verdict, r.accepted) for r in done.approvals] == [
        ("omar", "approve", False),
        ("omar", "deny", False),
        ("ana", "approve", True),
    ]
    assert_on_record(done, await history_updates(both.temporal, state.action_id))


async def test_amount_above_the_approvers_limit_is_refused(stack: Stack, tmp_path: Path) -> None:
    stack.sandbox.load_world(seed=write_seed_with_tv(tmp_path))
    tv = {"order_id": "O-1004", "sku": "TV-OLED-55", "amount": "900"}

    state = await stack.client.act(request(stack, actor="omar", customer="C-200", channel="phone", params=tv), wait=20)

    assert state.status == Status.AWAITING_APPROVAL
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule) == (Outcome.ESCALATE, "5-approve-above")
    assert state.decision.reasons == [
        "amount 900 is over approve_above 300 for role tier1: a person on the approval ladder decides"
    ]
    assert state.pending is not None and state.pending.eligible == ["ana"]
    ben = await stack.client.decide(state.action_id, verdict="approve", person="ben", reason="fine by me")
    assert ben.accepted is False
    refused(ben.record, "ben", "amount 900 is above ben's approve_limit 300")
    ana = await stack.client.decide(state.action_id, verdict="approve", person="ana", reason="fine by me")
    assert ana.accepted is True

    done = await closed(stack, state.action_id)
    assert done.status == Status.COMPLETED
    assert done.approvals == [ben.record, ana.record]
    assert stack.sandbox.world_snapshot()["refunds"] == {
        done.action_id: {"order": "O-1004", "sku": "TV-OLED-55", "amount": "900", "paid_out": False}
    }
    assert_on_record(done, await history_updates(stack.temporal, state.action_id))


async def test_retried_approval_gets_the_first_answer_and_applies_once(stack: Stack) -> None:
    state = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)
    assert state.status == Status.AWAITING_APPROVAL and state.digest is not None

    # The same attempt sent twice at once (a client retrying after a timeout): one Update id, one application.
    first, again = await asyncio.gather(
        stack.client.decide(state.action_id, verdict="approve", person="ana", reason="ok", digest=state.digest),
        stack.client.decide(state.action_id, verdict="approve", person="ana", reason="ok", digest=state.digest),
    )
    assert first == again and first.accepted

    done = await closed(stack, state.action_id)
    assert done.status == Status.COMPLETED
    assert done.approvals == [first.record]
    updates = await history_updates(stack.temporal, state.action_id)
    assert [update.result for update in updates] == [first]
    assert len(stack.sandbox.world_snapshot()["refunds"]) == 1

    # A retry arriving after the action closed still gets the first answer, not a second application.
    late = await stack.client.decide(state.action_id, verdict="approve", person="ana", reason="ok", digest=state.digest)
    assert late == first
    assert (await stack.client.status(state.action_id)).approvals == [first.record]


@pytest.mark.parametrize("with_digest", [False, True], ids=["pending-digest", "explicit-digest"])
async def test_approving_a_completed_action_is_denied(stack: Stack, with_digest: bool) -> None:
    state = await stack.client.act(request(stack), wait=20)
    assert state.status == Status.COMPLETED

    with pytest.raises(Denied, match="completed"):
        await stack.client.decide(
            state.action_id,
            verdict="approve",
            person="ana",
            reason="too late",
            digest=state.digest if with_digest else None,
        )
    assert (await stack.client.status(state.action_id)).approvals == []


async def test_an_action_that_cannot_answer_is_named_in_the_queue_not_left_out(
    dev_env: WorkflowEnvironment, sandbox: Sandbox
) -> None:
    """With its worker gone, a waiting action cannot answer the pending query: the queue says so, by id, since it
    may be waiting for the very person reading the list."""
    stack, worker = await start_stack(dev_env.client, sandbox)
    async with worker:
        waiting = await stack.client.act(request(stack, params=dict(REFUND_JACKET_120)), wait=20)
        assert waiting.status == Status.AWAITING_APPROVAL
        queue = await stack.client.pending(person="ana")
        assert ([item.action_id for item in queue.items], queue.unreadable) == ([waiting.action_id], [])

    stopped = await stack.client.pending(person="ana")

    assert (stopped.items, stopped.unreadable) == ([], [waiting.action_id])
