"""Every field is checked inside the workflows too: a request started around the clients, however malformed,
is denied unread (rule 2-bad-request) and stays a small, archivable history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from harness import Stack
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cxgov.audit.derive import derive
from cxgov.wire import ActionRequest, ApprovalInput, ReversalRequest, Status
from workflows.action import ActionWorkflow
from workflows.reversal import ReversalWorkflow


def request(**fields: object) -> ActionRequest:
    base: dict[str, object] = {
        "action_id": f"action-{uuid.uuid4()}",
        "actor": "support-bot",
        "action": "refund",
        "customer": "C-100",
        "channel": "chat",
        "reason": "why",
        "params": {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"},
    }
    return ActionRequest.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "workflow_id", "problem"),
    [
        ({"actor": "x" * 5000}, None, "actor is 5000 characters; the limit is 100"),
        ({"channel": "chat\nbcc: everyone"}, None, "has spaces, quotes or control characters"),
        ({"reason": "   "}, None, "reason is empty"),
        ({"reason": "r" * 3000}, None, "reason is 3000 characters; the limit is 2000"),
        ({"params": {f"p{n}": "x" for n in range(30)}}, None, "30 params; the limit is 20"),
        ({"params": {"order_id": "O" * 5000}}, None, "param 'order_id' is longer than the limit"),
        ({}, "action-not-the-same", "is not the workflow id 'action-not-the-same'"),
        ({"action_id": "refund-42"}, "refund-42", "must start with 'action-'"),
    ],
)
async def test_a_malformed_request_is_denied_unread(
    stack: Stack, fields: dict[str, object], workflow_id: str | None, problem: str
) -> None:
    bad = request(**fields)
    before = stack.sandbox.world_snapshot()
    state = await stack.temporal.execute_workflow(
        ActionWorkflow.run, bad, id=workflow_id or bad.action_id, task_queue=stack.task_queue
    )
    assert state.status == Status.DENIED and state.decision is not None
    assert state.decision.rule == "2-bad-request" and problem in state.decision.reasons[0], state.decision
    assert state.steps == [] and stack.sandbox.world_snapshot() == before
    history = await stack.temporal.get_workflow_handle(workflow_id or bad.action_id).fetch_history()
    _, records = derive(history, archived_at=datetime.now(UTC))
    assert [record.rule for record in records] == ["2-bad-request"], "archivable like any denial"


async def test_a_malformed_approval_is_rejected_before_the_history(stack: Stack) -> None:
    waiting = await stack.client.act(
        stack.client.request(
            actor="support-bot",
            action="refund",
            customer="C-100",
            channel="chat",
            reason="torn",
            params={"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"},
        ),
        wait=20,
    )
    assert waiting.status == Status.AWAITING_APPROVAL and waiting.digest is not None
    handle = stack.temporal.get_workflow_handle_for(ActionWorkflow.run, waiting.action_id)
    for attempt in (
        ApprovalInput(person="a" * 500, reason="ok", digest=waiting.digest),
        ApprovalInput(person="ana", reason="ok", digest="not-a-digest"),
    ):
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(ActionWorkflow.approve, attempt, id=f"bad-{uuid.uuid4()}")
    assert (await stack.client.status(waiting.action_id)).approvals == []


async def test_a_malformed_reversal_is_refused_unread(stack: Stack) -> None:
    action_id = f"action-{uuid.uuid4()}"
    with pytest.raises(WorkflowFailureError) as refused:
        await stack.temporal.execute_workflow(
            ReversalWorkflow.run,
            ReversalRequest(action_id=action_id, person="farid" * 50, reason="undo"),
            id=f"reverse-{action_id}",
            task_queue=stack.task_queue,
        )
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ReversalRefused"
    assert "person is 250 characters; the limit is 100" in cause.message
    history = await stack.temporal.get_workflow_handle(f"reverse-{action_id}").fetch_history()
    _, records = derive(history, archived_at=datetime.now(UTC))
    assert [(record.kind, len(record.actor or "")) for record in records] == [("reversal_refused", 100)]
