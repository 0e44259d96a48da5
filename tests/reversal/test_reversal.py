"""Reversals by named humans: `reverse-<action id>`, owner role only, refusals with the procedure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from harness import CHARTER, SEED, Stack, start_stack
from temporalio.testing import WorkflowEnvironment

from cxgov.errors import Denied
from cxgov.sandbox import Sandbox
from cxgov.sandbox.connectors.booking import BookAppointmentConnector
from cxgov.sandbox.store import CONNECTOR_TYPES
from cxgov.wire import ActionState, CompensateResult, ConnectorCall, Status

REFUND_TEE = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
HALF_TEE = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "20"}
ADDRESS = {"order_id": "O-1001", "address": "2 Side Rd, Springfield"}
BOOK_NORTH_9 = {"clinic": "north", "slot": "2026-12-01T09:00"}


async def act(stack: Stack, action: str, params: dict[str, Any], *, actor: str = "support-bot") -> ActionState:
    request = stack.client.request(
        actor=actor, action=action, customer="C-100", channel="chat", reason="customer asked", params=params
    )
    state = await stack.client.act(request, wait=20)
    assert state.status == Status.COMPLETED, state
    return state


async def test_owner_reverses_a_refund_and_the_record_is_restored(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    action = await act(stack, "refund", REFUND_TEE)
    assert stack.sandbox.world_snapshot() != before
    reversal = await stack.client.reverse(action.action_id, person="farid", reason="customer kept it after all")
    assert reversal.status == Status.REVERSED
    assert reversal.reversal_id == f"reverse-{action.action_id}"
    assert [step.step for step in reversal.steps] == ["compensate", "verify"]
    assert stack.sandbox.world_snapshot() == before
    status = await stack.client.status(action.action_id)
    assert status.status == Status.REVERSED and status.reversal == reversal.reversal_id


async def test_second_request_gets_the_first_result_never_a_second_undo(stack: Stack) -> None:
    action = await act(stack, "book_appointment", BOOK_NORTH_9)
    first, second = await asyncio.gather(
        stack.client.reverse(action.action_id, person="ana", reason="customer cancelled"),
        stack.client.reverse(action.action_id, person="ben", reason="customer cancelled too"),
    )
    assert first.status == second.status == Status.REVERSED
    assert first.request == second.request  # both answers are the one reversal that ran
    again = await stack.client.reverse(action.action_id, person="ben", reason="once more")
    assert again.request == first.request
    history = [h async for h in stack.temporal.list_workflows(f'WorkflowId = "reverse-{action.action_id}"')]
    assert len(history) == 1


async def test_only_the_owner_role_may_reverse_and_a_refusal_does_not_block_the_owner(stack: Stack) -> None:
    action = await act(stack, "refund", REFUND_TEE)
    with pytest.raises(Denied, match="ana is not in refund's reversal owner role finance-ops"):
        await stack.client.reverse(action.action_id, person="ana", reason="trying")
    reversal = await stack.client.reverse(action.action_id, person="farid", reason="rightful owner")
    assert reversal.status == Status.REVERSED


async def test_refund_after_payout_is_refused_with_the_procedure(stack: Stack) -> None:
    action = await act(stack, "refund", REFUND_TEE)
    stack.sandbox.payout(order="O-1001")
    before = stack.sandbox.world_snapshot()
    with pytest.raises(Denied, match=r"payout.*procedure: Claw the refund back before the payout runs"):
        await stack.client.reverse(action.action_id, person="farid", reason="too late")
    assert stack.sandbox.world_snapshot() == before


async def test_address_change_after_dispatch_is_refused(stack: Stack) -> None:
    action = await act(stack, "change_address", ADDRESS)
    stack.sandbox.dispatch(order="O-1001")
    with pytest.raises(Denied, match=r"dispatched.*Restore the previous address"):
        await stack.client.reverse(action.action_id, person="ana", reason="wrong address")


async def test_address_change_before_dispatch_is_restored(stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    action = await act(stack, "change_address", ADDRESS)
    reversal = await stack.client.reverse(action.action_id, person="ben", reason="wrong address")
    assert reversal.status == Status.REVERSED
    assert stack.sandbox.world_snapshot() == before


async def test_irreversible_action_shows_the_procedure(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    charter = tmp_path / "charter.yaml"
    text = CHARTER.read_text().replace("version: 3 ", "version: 4 ", 1)
    charter.write_text(text + "  - actor: support-bot\n    action: share_customer_data\n")
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    stack, worker = await start_stack(dev_env.client, box, charter_path=charter)
    async with worker:
        action = await act(stack, "share_customer_data", {"recipient": "insights-partner-inc", "fields": "name"})
        with pytest.raises(Denied, match="irreversible; procedure: Ask the recipient to delete the data"):
            await stack.client.reverse(action.action_id, person="ana", reason="oops")
    box.close()


async def test_window_reversal_refused_after_the_window(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    charter = tmp_path / "charter.yaml"
    text = CHARTER.read_text().replace("version: 3 ", "version: 4 ", 1).replace("window: 24h", "window: 1s", 1)
    charter.write_text(text)
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    stack, worker = await start_stack(dev_env.client, box, charter_path=charter)
    async with worker:
        action = await act(stack, "cancel_order", {"order_id": "O-1001"})
        await asyncio.sleep(1.5)
        with pytest.raises(Denied, match=r"reversal window closed.*Reinstate the order"):
            await stack.client.reverse(action.action_id, person="ana", reason="late")
    box.close()


async def test_reversal_whose_verify_fails_is_raised_to_coverage(stack: Stack) -> None:
    action = await act(stack, "book_appointment", BOOK_NORTH_9)
    stack.sandbox.add_fault(action="book_appointment", step="compensate", times=3)
    reversal = await stack.client.reverse(action.action_id, person="ana", reason="cancel")
    assert reversal.status == Status.REVERSAL_FAILED
    assert reversal.escalated_to == ["carla"]  # support-lead's coverage: duty-manager
    assert (await stack.client.status(action.action_id)).status == Status.REVERSAL_FAILED


@pytest.mark.parametrize("target", ["denied", "missing", "awaiting"])
async def test_only_completed_actions_can_be_reversed(stack: Stack, target: str) -> None:
    if target == "missing":
        action_id = "action-00000000-0000-0000-0000-000000000000"
    else:
        params = {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"}
        if target == "awaiting":
            params = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
        request = stack.client.request(
            actor="support-bot", action="refund", customer="C-100", channel="chat", reason="r", params=params
        )
        action_id = (await stack.client.act(request, wait=20)).action_id
    with pytest.raises(Denied, match="reversal refused"):
        await stack.client.reverse(action_id, person="farid", reason="nothing to undo")


async def test_a_later_refund_on_the_same_line_does_not_fail_the_reversal(stack: Stack) -> None:
    first = await act(stack, "refund", HALF_TEE)
    second = await act(stack, "refund", HALF_TEE)

    reversal = await stack.client.reverse(first.action_id, person="farid", reason="refunded twice by mistake")

    assert reversal.status == Status.REVERSED, reversal
    verify = reversal.steps[-1]
    assert verify.ok and verify.summary.startswith(
        "the system of record is back to its pre-action state, apart from later changes by others: line.left: "
    )
    assert "line.refunded" in verify.summary
    assert list(stack.sandbox.world_snapshot()["refunds"]) == [second.action_id]  # the later refund stands

    undone = await stack.client.reverse(second.action_id, person="farid", reason="customer returned the tee")
    assert undone.status == Status.REVERSED, undone
    assert stack.sandbox.world_snapshot()["refunds"] == {}


class ForgetfulBooking(BookAppointmentConnector):
    """Cancels the booking record but forgets to give the seat back."""

    def _undo(self, session: Any, call: ConnectorCall, effect: Any) -> CompensateResult:
        effect.cancelled = True
        session.add(effect)
        return CompensateResult(undone=True, summary="cancelled the booking (the seat stays taken)")


@pytest.mark.parametrize("forgetful", [False, True], ids=["undo", "forgetful-undo"])
async def test_a_later_booking_of_the_same_slot_does_not_fail_the_reversal_but_a_wrong_undo_does(
    dev_env: WorkflowEnvironment, tmp_path: Path, forgetful: bool
) -> None:
    seed = tmp_path / "sandbox.yaml"
    text = SEED.read_text()
    assert text.count('"2026-12-01T09:00": {capacity: 2, booked: 1}') == 1
    seed.write_text(
        text.replace('"2026-12-01T09:00": {capacity: 2, booked: 1}', '"2026-12-01T09:00": {capacity: 5, booked: 1}')
    )
    types = [ForgetfulBooking if kind is BookAppointmentConnector else kind for kind in CONNECTOR_TYPES]
    box = Sandbox(tmp_path / "sandbox.db", connector_types=types if forgetful else None)
    box.load_world(seed=seed)
    stack, worker = await start_stack(dev_env.client, box)
    async with worker:
        first = await act(stack, "book_appointment", BOOK_NORTH_9)
        second = await act(stack, "book_appointment", BOOK_NORTH_9)

        reversal = await stack.client.reverse(first.action_id, person="ana", reason="customer cancelled")

    slot = box.world_snapshot()["clinics"]["north"]["2026-12-01T09:00"]
    box.close()
    if forgetful:
        assert reversal.status == Status.REVERSAL_FAILED, reversal
        assert reversal.error is not None and "slot.booked: 2 -> 3" in reversal.error
        assert slot["booked"] == 3
    else:
        assert reversal.status == Status.REVERSED, reversal
        assert reversal.steps[-1].summary.endswith("apart from later changes by others: slot.booked: 1 -> 2")
        assert slot["booked"] == 2
    assert second.status == Status.COMPLETED
