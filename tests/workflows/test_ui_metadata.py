"""What the Temporal UI shows for each workflow: a one-line summary set at start, and current details that follow
the governance status (Temporal's user metadata), read back from the server as the UI reads them. (Drills: in
tests/drills/test_drill_ui_metadata.py.)"""

from __future__ import annotations

from action_kit import REFUND_JACKET_120, closed, request, settled
from harness import Stack
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

from cxgov.wire import Status


async def details(handle: WorkflowHandle[object, object]) -> str:
    """The current details, through the built-in metadata query (what the UI calls)."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_an_allowed_action_says_who_did_what_for_whom_and_that_it_completed(stack: Stack) -> None:
    state = await stack.client.act(request(stack), wait=20)
    assert state.status == Status.COMPLETED
    handle = stack.temporal.get_workflow_handle(state.action_id)

    assert await (await handle.describe()).static_summary() == "support-bot refund 40 USD for C-100"
    assert (await details(handle)).startswith("**Completed**: verify ok")


async def test_an_escalated_action_says_whom_it_waits_on_then_who_denied_it(stack: Stack) -> None:
    state = await settled(stack, (await stack.client.start(request(stack, params=REFUND_JACKET_120))).id)
    assert state.status == Status.AWAITING_APPROVAL
    assert state.pending is not None
    handle = stack.temporal.get_workflow_handle(state.action_id)

    assert await (await handle.describe()).static_summary() == "support-bot refund 120 USD for C-100"
    waiting = await details(handle)
    assert waiting.startswith(f"**Awaiting approval** from {state.pending.role}: ")
    assert ", ".join(state.pending.eligible) in waiting
    assert state.pending.deadline.strftime("%Y-%m-%d %H:%M UTC") in waiting
    assert "(step 1 of" in waiting

    denied = await stack.client.decide(state.action_id, verdict="deny", person="ana", reason="photos show wear")
    assert denied.accepted
    await closed(stack, state.action_id)
    assert await details(handle) == f"**Denied** by ana ({state.pending.role}): photos show wear"


async def test_a_rule_denial_names_the_rule(stack: Stack) -> None:
    params = {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"}
    state = await stack.client.act(request(stack, params=params), wait=20)
    assert state.status == Status.DENIED
    shown = await details(stack.temporal.get_workflow_handle(state.action_id))
    assert shown.startswith("**Denied** by rule `4-excluded-sku`: SKU FINAL-SOCKS-3P matches excluded 'FINAL-*'")


async def test_a_reversal_says_who_reversed_what(stack: Stack) -> None:
    action = await stack.client.act(request(stack), wait=20)
    reversal = await stack.client.reverse(action.action_id, person="farid", reason="customer kept it after all")
    assert reversal.status == Status.REVERSED
    handle = stack.temporal.get_workflow_handle(reversal.reversal_id)

    assert await (await handle.describe()).static_summary() == f"farid reverses {action.action_id}"
    assert await details(handle) == (
        "**Reversed** by farid: support-bot refund for C-100; reason: customer kept it after all"
    )
