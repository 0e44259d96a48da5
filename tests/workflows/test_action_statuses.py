"""Every status the action path produces, each with its decision and its effect on the sandbox world."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from action_kit import (
    BOOK_NORTH_9,
    REFUND_JACKET_120,
    REFUND_TEE,
    StackFactory,
    closed,
    request,
    settled,
)
from harness import TEST_SIGNER, Stack, write_charter

from cxgov.client import CxgovClient
from cxgov.errors import BadRequest, NotFound
from cxgov.wire import ActionState, Outcome, Status

VERSION = 3


def with_refund(world: dict[str, Any], state: ActionState, *, order: str, sku: str, amount: str) -> dict[str, Any]:
    """`world` plus one pending refund recorded by `state`'s action."""
    expected = copy.deepcopy(world)
    expected["refunds"][state.action_id] = {"order": order, "sku": sku, "amount": amount, "paid_out": False}
    line = expected["orders"][order]["lines"][sku]
    line["refunded"] = str(int(line["refunded"]) + int(amount))
    return expected


def steps(state: ActionState) -> list[tuple[str, bool]]:
    return [(step.step, step.ok) for step in state.steps]


async def test_allowed_refund_completes_with_one_refund(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()

    state = await stack.client.act(request(stack, params=REFUND_TEE), wait=20)

    assert state.status == Status.COMPLETED
    assert state.decision is not None
    assert state.decision.outcome == Outcome.ALLOW
    assert state.decision.rule == "6-allow"
    assert state.decision.reasons == ["granted to actor support-bot for refund (amount 40 within approve_above 50)"]
    assert state.decision.gap is False
    assert state.decision.charter_version == state.charter_version == VERSION
    assert steps(state) == [("execute", True), ("verify", True)]
    assert state.approvals == [] and state.pending is None and state.error is None
    expected = with_refund(before, state, order="O-1001", sku="TEE-RED-M", amount="40")
    assert stack.sandbox.world_snapshot() == expected


DENIALS = [
    pytest.param(
        {"params": {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "250"}},
        "4-max-amount",
        "over the grant's max_amount 200",
        False,
        id="amount-250-over-max",
    ),
    pytest.param(
        {"params": {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"}},
        "4-excluded-sku",
        "SKU FINAL-SOCKS-3P matches excluded 'FINAL-*'",
        False,
        id="final-sku",
    ),
    pytest.param(
        {"customer": "C-300", "params": {"order_id": "O-1003", "sku": "COAT-NAVY-M", "amount": "40"}},
        "4-segment",
        "customer C-300 is in segment 'vip'",
        False,
        id="vip-customer",
    ),
    pytest.param({"channel": "phone"}, "4-channel", "channel 'phone' is outside the grant", False, id="phone"),
    pytest.param(
        {"action": "issue_voucher", "params": {}},
        "1-no-grant",
        "unknown action 'issue_voucher'",
        True,
        id="unknown-action",
    ),
    pytest.param({"actor": "mystery-bot"}, "1-no-grant", "unknown actor 'mystery-bot'", True, id="unknown-actor"),
    pytest.param(
        {"action": "book_appointment", "actor": "returns-sync", "params": BOOK_NORTH_9},
        "1-no-grant",
        "no grant in charter v3 lets returns-sync take action book_appointment",
        True,
        id="known-actor-without-grant",
    ),
    pytest.param(
        {
            "actor": "insights-partner",
            "action": "share_customer_data",
            "params": {"recipient": "insights-partner-inc", "fields": ["name"]},
        },
        "3-actor-not-certified",
        "actor insights-partner was due for recertification on 2026-06-01",
        False,
        id="insights-partner-overdue",
    ),
]


@pytest.mark.parametrize(("fields", "rule", "reason", "gap"), DENIALS)
async def test_denied_requests_leave_the_world_unchanged(
    stack: Stack, fields: dict[str, Any], rule: str, reason: str, gap: bool
) -> None:
    before = stack.sandbox.world_snapshot()

    state = await stack.client.act(request(stack, **fields), wait=20)

    assert state.status == Status.DENIED
    assert state.decision is not None
    assert state.decision.outcome == Outcome.DENY
    assert state.decision.rule == rule
    assert any(reason in text for text in state.decision.reasons), state.decision.reasons
    assert state.decision.gap is gap
    assert state.decision.charter_version == state.charter_version == VERSION
    assert state.steps == [] and state.approvals == []
    assert stack.sandbox.world_snapshot() == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "-5"}, "must not be negative"),
        ({"order_id": "O-1001", "amount": "5"}, "refund needs param 'sku'"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "five"}, "must be an amount of money"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "5", "note": "x"}, "refund takes no param 'note'"),
    ],
)
async def test_bad_input_is_rejected_before_any_workflow(stack: Stack, params: dict[str, Any], message: str) -> None:
    before = stack.sandbox.world_snapshot()
    action_id = f"action-{uuid.uuid4()}"

    with pytest.raises(BadRequest, match=message):
        request(stack, params=params, action_id=action_id)

    with pytest.raises(NotFound):
        await stack.client.status(action_id)
    assert stack.sandbox.world_snapshot() == before


async def test_bad_params_that_slip_past_the_client_are_denied_by_the_worker(stack: Stack) -> None:
    # A client without the charter cannot check params; the worker's authorize still refuses them (rule 2).
    unchecked = CxgovClient(stack.temporal, task_queue=stack.task_queue, signer=TEST_SIGNER)
    before = stack.sandbox.world_snapshot()
    bad = unchecked.request(
        actor="support-bot",
        action="refund",
        customer="C-100",
        channel="chat",
        reason="customer asked",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "-5"},
    )

    state = await unchecked.act(bad, wait=20)

    assert state.status == Status.DENIED
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule, state.decision.gap) == (Outcome.DENY, "2-bad-params", False)
    assert any("must not be negative" in text for text in state.decision.reasons)
    assert state.decision.charter_version == VERSION
    assert stack.sandbox.world_snapshot() == before


async def test_escalated_refund_awaits_approval_then_ana_approves(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()

    state = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)

    assert state.status == Status.AWAITING_APPROVAL
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule, state.decision.gap) == (
        Outcome.ESCALATE,
        "5-approve-above",
        False,
    )
    assert state.decision.reasons == [
        "amount 120 is over approve_above 50 for actor support-bot: a person on the approval ladder decides"
    ]
    assert state.decision.charter_version == VERSION
    assert state.pending is not None
    assert (state.pending.role, state.pending.phase, state.pending.phases) == ("support-lead", 1, 2)
    assert state.pending.eligible == ["ana", "ben"]
    assert state.pending.digest == state.digest
    assert stack.sandbox.world_snapshot() == before, "nothing happens before a person approves"

    answer = await stack.client.decide(state.action_id, verdict="approve", person="ana", reason="looks right")
    assert answer.accepted and answer.refusal is None

    done = await closed(stack, state.action_id)
    assert done.status == Status.COMPLETED
    assert steps(done) == [("execute", True), ("verify", True)]
    assert done.pending is None
    [record] = done.approvals
    assert (record.verdict, record.person, record.reason, record.accepted) == ("approve", "ana", "looks right", True)
    assert (record.role, record.phase, record.refusal) == ("support-lead", 1, None)
    expected = with_refund(before, done, order="O-1001", sku="JACKET-BLK-L", amount="120")
    assert stack.sandbox.world_snapshot() == expected


async def test_escalated_refund_denied_by_ben_has_no_effect(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    state = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)
    assert state.status == Status.AWAITING_APPROVAL

    answer = await stack.client.decide(state.action_id, verdict="deny", person="ben", reason="worn, not damaged")
    assert answer.accepted

    done = await closed(stack, state.action_id)
    assert done.status == Status.DENIED
    assert done.decision is not None and done.decision.outcome == Outcome.ESCALATE, "the charter escalated; ben denied"
    [record] = done.approvals
    assert (record.verdict, record.person, record.accepted, record.role) == ("deny", "ben", True, "support-lead")
    assert done.steps == []
    assert stack.sandbox.world_snapshot() == before


async def test_ladder_that_nobody_answers_expires(stack_on: StackFactory, tmp_path: Path) -> None:
    charter = write_charter(
        tmp_path,
        (
            "approval: {ladder: [support-lead], step_timeout: 4h, on_timeout: deny}",
            "approval: {ladder: [support-lead], step_timeout: 1s, on_timeout: deny}",
        ),
    )
    quick = await stack_on(charter_path=charter)
    before = quick.sandbox.world_snapshot()

    state = await settled(quick, (await quick.client.start(request(quick, params=REFUND_JACKET_120))).id)
    assert state.status == Status.AWAITING_APPROVAL
    done = await closed(quick, state.action_id, within=15)

    assert done.status == Status.EXPIRED
    assert done.decision is not None
    assert (done.decision.outcome, done.decision.rule, done.decision.charter_version) == (
        Outcome.ESCALATE,
        "5-approve-above",
        4,
    )
    assert done.error == "no approval on any ladder step before its timeout; on_timeout: deny"
    assert done.pending is None and done.approvals == [] and done.steps == []
    assert quick.sandbox.world_snapshot() == before


async def test_failed_verify_is_compensated_and_the_world_restored(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    stack.sandbox.add_fault(action="book_appointment", step="verify")

    state = await stack.client.act(request(stack, action="book_appointment", params=BOOK_NORTH_9), wait=20)

    assert state.status == Status.COMPENSATED
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule, state.decision.charter_version) == (
        Outcome.ALLOW,
        "6-allow",
        VERSION,
    )
    assert state.decision.reasons == ["granted to actor support-bot for book_appointment"]
    assert steps(state) == [("execute", True), ("verify", False), ("compensate", True)]
    assert state.steps[1].summary == "injected fault"
    assert state.steps[2].summary.startswith("cancelled booking of clinic north slot 2026-12-01T09:00")
    assert state.error is not None and "verify failed" in state.error
    assert state.escalated_to == []
    assert stack.sandbox.world_snapshot() == before


async def test_failed_compensation_escalates_to_the_reversal_owner(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    stack.sandbox.add_fault(action="book_appointment", step="verify")
    # compensate is retried 3 times by the workflow: every attempt must fail for compensation to fail.
    stack.sandbox.add_fault(action="book_appointment", step="compensate", times=3)

    state = await stack.client.act(request(stack, action="book_appointment", params=BOOK_NORTH_9), wait=30)

    assert state.status == Status.COMPENSATION_FAILED
    assert state.decision is not None
    assert (state.decision.outcome, state.decision.rule, state.decision.charter_version) == (
        Outcome.ALLOW,
        "6-allow",
        VERSION,
    )
    assert steps(state) == [("execute", True), ("verify", False), ("compensate", False)]
    assert "injected fault: compensate" in state.steps[2].summary
    assert state.escalated_to == ["ana", "ben"], "the people of book_appointment's reversal owner, support-lead"
    expected = copy.deepcopy(before)
    expected["clinics"]["north"]["2026-12-01T09:00"]["booked"] = 2
    expected["bookings"][state.action_id] = {"customer": "C-100", "clinic": "north", "slot": "2026-12-01T09:00"}
    assert stack.sandbox.world_snapshot() == expected, "the booking stays until a person of support-lead undoes it"


async def test_execute_refused_after_the_world_changed_is_denied_with_the_fresh_reason(stack: Stack) -> None:
    """A real race: while the 120 refund waits for approval, another refund takes what was left of the line.

    Authorize saw 180 left on JACKET-BLK-L; by the time ana approves, tier1 omar has refunded 100 of it, so the
    connector refuses the 120 inside execute (checked again with the effect, nothing written): the action ends
    `denied` by rule 4-precondition with the fresh reason, not `failed`, and its budget share is given back.
    """
    escalated = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)
    assert escalated.status == Status.AWAITING_APPROVAL
    omar = await stack.client.act(
        request(stack, actor="omar", params={"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "100"}), wait=20
    )
    assert omar.status == Status.COMPLETED
    after_omar = stack.sandbox.world_snapshot()

    await stack.client.decide(escalated.action_id, verdict="approve", person="ana", reason="ok")
    done = await closed(stack, escalated.action_id)

    assert done.status == Status.DENIED
    assert done.decision is not None
    assert (done.decision.outcome, done.decision.rule) == (Outcome.DENY, "4-precondition")
    fresh = "exceeds what is left to refund on order O-1001 line JACKET-BLK-L: 80 of 180"
    assert len(done.decision.reasons) == 1 and fresh in done.decision.reasons[0]
    assert done.decision.reasons[0].startswith("at execute: ")
    assert steps(done) == [("execute", False)], "a refusal changed nothing: there is nothing to compensate"
    assert fresh in done.steps[0].summary
    assert [a.accepted for a in done.approvals] == [True], "the approval stays on the record"
    assert stack.sandbox.world_snapshot() == after_omar
    assert list(after_omar["refunds"]) == [omar.action_id]
