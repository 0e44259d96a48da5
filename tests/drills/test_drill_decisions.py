"""Drill state in decisions (rule 5), end to end on the dev server: an action whose undo was never drilled, or
whose last drill failed, loses its autonomy until a drill passes; an action without a ladder is denied."""

from __future__ import annotations

from pathlib import Path

from drillkit import (
    BOOK_NORTH_9,
    DrillStack,
    DrillStackFactory,
    UndoSwitch,
    connector_types_with,
    pretending,
    request,
    run_drill,
)
from harness import write_charter

from cxgov.sandbox.connectors import RefundConnector
from cxgov.wire import ActionState, Outcome, Status

REFUND_JACKET_40 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "40"}
"""Also within approve_above 50 for support-bot: allowed whenever the refund's undo is trusted."""


async def act(stack: DrillStack, **fields: object) -> ActionState:
    return await stack.client.act(request(stack, **fields), wait=20)


def decided(state: ActionState) -> tuple[Status, Outcome, str]:
    assert state.decision is not None
    return state.status, state.decision.outcome, state.decision.rule


async def test_refund_autonomy_follows_its_drills(drill_stack: DrillStackFactory) -> None:
    undo = UndoSwitch(broken=False)
    stack = await drill_stack(connector_types=connector_types_with(pretending(RefundConnector, undo)))

    never = await act(stack)
    assert decided(never) == (Status.AWAITING_APPROVAL, Outcome.ESCALATE, "5-drill")
    assert never.decision is not None
    assert never.decision.reasons == ["the undo of refund has never been drilled: untested, so a person approves"]
    assert never.pending is not None and never.pending.role == "support-lead"

    booking = await act(stack, action="book_appointment", params=BOOK_NORTH_9)
    assert decided(booking) == (Status.DENIED, Outcome.DENY, "5-no-ladder")
    assert booking.decision is not None
    assert booking.decision.reasons == [
        "the undo of book_appointment has never been drilled: untested, so a person approves",
        "action book_appointment has no approval ladder, so nobody can approve it",
    ]

    assert (await run_drill(stack, "refund")).passed
    allowed = await act(stack)
    assert decided(allowed) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")
    assert [step.step for step in allowed.steps] == ["execute", "verify"]

    undo.broken = True
    failed = await run_drill(stack, "refund")
    assert (failed.passed, failed.failing_step) == (False, "verify_restored")
    held = await act(stack, params=REFUND_JACKET_40)
    assert decided(held) == (Status.AWAITING_APPROVAL, Outcome.ESCALATE, "5-drill")
    assert held.decision is not None
    [reason] = held.decision.reasons
    assert reason.startswith("the last reversal drill of refund failed at ")
    assert "(step verify_restored: the sandbox differs from its snapshot: " in reason
    assert reason.endswith("a person approves until a drill passes")

    undo.broken = False
    assert (await run_drill(stack, "refund")).passed
    again = await act(stack, params=REFUND_JACKET_40)
    assert decided(again) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")

    # Drill state gates only the drilled action: book_appointment was never drilled and is still denied.
    still = await act(stack, action="book_appointment", params=BOOK_NORTH_9)
    assert decided(still) == (Status.DENIED, Outcome.DENY, "5-no-ladder")


async def test_a_passing_drill_gives_a_ladderless_action_its_autonomy(drill_stack: DrillStackFactory) -> None:
    stack = await drill_stack()

    assert decided(await act(stack, action="book_appointment", params=BOOK_NORTH_9))[2] == "5-no-ladder"
    assert (await run_drill(stack, "book_appointment")).passed
    booked = await act(stack, action="book_appointment", params=BOOK_NORTH_9)
    assert decided(booked) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")


async def test_an_irreversible_action_is_not_gated_by_drills(drill_stack: DrillStackFactory, tmp_path: Path) -> None:
    """share_customer_data has no undo to drill: its decision says nothing of drills (here: require_approval)."""
    certified = write_charter(tmp_path, ("recertify_by: 2026-06-01", "recertify_by: 2099-06-01"))
    stack = await drill_stack(charter_path=certified)
    share = await act(
        stack,
        actor="insights-partner",
        action="share_customer_data",
        channel="api",
        params={"recipient": "insights-partner-inc", "fields": ["name"]},
    )
    assert decided(share) == (Status.AWAITING_APPROVAL, Outcome.ESCALATE, "5-require-approval")
    assert share.decision is not None
    assert share.decision.reasons == ["the grant to actor insights-partner requires approval of every request"]
