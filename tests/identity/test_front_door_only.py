"""No way around the front door: a client that reaches Temporal directly, with a made-up actor or approver,
or a workflow of its own scheduling cxgov's effect activities, is refused, and the refusal is on the record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness import TEST_SIGNER, Stack
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cxgov.audit.derive import derive
from cxgov.audit.store import AuditArchive
from cxgov.charter import load_charter
from cxgov.gaps import gap_report
from cxgov.identity.signing import Signer, action_payload
from cxgov.wire import ActionRequest, ActionState, ApprovalInput, ConnectorCall, ReversalRequest, Status
from workflows.action import ActionWorkflow
from workflows.reversal import ReversalWorkflow

TEE_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
JACKET_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}


def raw_request(actor: str = "support-bot", params: dict[str, str] | None = None) -> ActionRequest:
    return ActionRequest(
        action_id=f"action-{uuid.uuid4()}",
        actor=actor,
        action="refund",
        customer="C-100",
        channel="chat",
        reason="straight to Temporal",
        params=params or dict(TEE_40),
    )


def signed(request: ActionRequest, signer: Signer) -> ActionRequest:
    payload = action_payload(request)
    return request.model_copy(update={"assertion": signer.sign(payload, principal=request.actor, at=datetime.now(UTC))})


async def started_directly(stack: Stack, request: ActionRequest) -> ActionState:
    return await stack.temporal.execute_workflow(
        ActionWorkflow.run, request, id=request.action_id, task_queue=stack.task_queue
    )


async def test_an_action_started_around_the_api_is_denied_and_recorded(stack: Stack, tmp_path: Path) -> None:
    before = stack.sandbox.world_snapshot()
    unsigned = await started_directly(stack, raw_request())
    stranger = Signer(Ed25519PrivateKey.generate())
    untrusted = await started_directly(stack, signed(raw_request(actor="ceo-bot"), stranger))
    tampered_request = signed(raw_request(), TEST_SIGNER)
    tampered_request.params["amount"] = "400"
    tampered = await started_directly(stack, tampered_request)
    posing = signed(raw_request(), TEST_SIGNER).model_copy(update={"actor": "returns-sync"})
    renamed = await started_directly(stack, posing)

    for state, why in (
        (unsigned, "it carries no signature of a trusted cxgov server: it did not come through the front door"),
        (untrusted, "which this worker does not trust"),
        (tampered, "its signature does not verify: the request was altered or forged"),
        (renamed, "it is signed for 'support-bot', not 'returns-sync'"),
    ):
        assert state.status == Status.DENIED and state.decision is not None
        assert state.decision.rule == "0-unauthenticated", state.decision
        assert why in state.decision.reasons[0], state.decision.reasons
        assert state.steps == [], "nothing ran"
    assert stack.sandbox.world_snapshot() == before

    # On the record: archived like any decision, and shown by `gaps`.
    archive = AuditArchive(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        history = await stack.temporal.get_workflow_handle(unsigned.action_id).fetch_history()
        run, records = derive(history, archived_at=datetime.now(UTC))
        archive.append_run(run=run, records=records)
        report = gap_report(load_charter(stack.charter_path), archive=archive, ledger=None, now=datetime.now(UTC))
    finally:
        archive.close()
    assert [(group.actor, group.action, group.count) for group in report.unauthenticated] == [
        ("support-bot", "refund", 1)
    ]


async def test_an_approval_sent_around_the_api_is_refused_and_recorded(stack: Stack) -> None:
    waiting = await stack.client.act(
        stack.client.request(
            actor="support-bot", action="refund", customer="C-100", channel="chat", reason="torn", params=JACKET_120
        ),
        wait=20,
    )
    assert waiting.status == Status.AWAITING_APPROVAL and waiting.digest is not None
    handle = stack.temporal.get_workflow_handle_for(ActionWorkflow.run, waiting.action_id)
    forged = await handle.execute_update(
        ActionWorkflow.approve,
        ApprovalInput(person="ana", reason="looks fine to me", digest=waiting.digest),
        id=f"forged-{uuid.uuid4()}",
    )
    assert forged.accepted is False and forged.status == Status.AWAITING_APPROVAL
    assert forged.refusal == (
        "the approve in the name of ana is refused: it carries no signature of a trusted cxgov server: "
        "it did not come through the front door"
    )
    real = await stack.client.decide(waiting.action_id, verdict="approve", person="ana", reason="photo checked")
    assert real.accepted
    done = await stack.client.wait_settled(waiting.action_id, wait=20)
    assert done.status == Status.COMPLETED
    assert [(record.person, record.accepted) for record in done.approvals] == [("ana", False), ("ana", True)]


@workflow.defn(name="rogue")
class RogueWorkflow:
    """A workflow of someone else's, trying to run cxgov's effect activity on cxgov's task queue."""

    @workflow.run
    async def run(self, args: tuple[str, ConnectorCall]) -> str:
        queue, call = args
        await workflow.execute_activity(
            "execute_action",
            call,
            task_queue=queue,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return "executed"


@pytest.mark.parametrize("seal", [None, "0" * 64])
async def test_execute_scheduled_by_another_workflow_refuses(stack: Stack, seal: str | None) -> None:
    before = stack.sandbox.world_snapshot()
    call = ConnectorCall(
        action_id=f"action-{uuid.uuid4()}",
        action="refund",
        customer="C-100",
        params={"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": Decimal("180")},
        seal=seal,
    )
    rogue_queue = f"rogue-{uuid.uuid4()}"
    # The rogue's own worker (unsandboxed: its module is a test module, not a workflow file).
    rogue = Worker(
        stack.temporal, task_queue=rogue_queue, workflows=[RogueWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    )
    async with rogue:
        with pytest.raises(WorkflowFailureError) as failed:
            await stack.temporal.execute_workflow(
                RogueWorkflow.run, (stack.task_queue, call), id=f"rogue-{uuid.uuid4()}", task_queue=rogue_queue
            )
    cause = failed.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "Unauthorized"
    assert "no decision of cxgov's authorize allows this call (scheduled by workflow rogue" in cause.cause.message
    assert stack.sandbox.world_snapshot() == before


async def test_a_reversal_started_around_the_api_is_refused(stack: Stack) -> None:
    done = await stack.client.act(
        stack.client.request(
            actor="support-bot", action="refund", customer="C-100", channel="chat", reason="torn", params=TEE_40
        ),
        wait=20,
    )
    assert done.status == Status.COMPLETED
    after = stack.sandbox.world_snapshot()
    with pytest.raises(WorkflowFailureError) as refused:
        await stack.temporal.execute_workflow(
            ReversalWorkflow.run,
            ReversalRequest(action_id=done.action_id, person="farid", reason="undo it"),
            id=f"reverse-{done.action_id}",
            task_queue=stack.task_queue,
        )
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ReversalRefused"
    assert cause.message.startswith("the reversal in the name of farid is refused: it carries no signature")
    assert stack.sandbox.world_snapshot() == after, "nothing was undone"
    reversed_ = await stack.client.reverse(done.action_id, person="farid", reason="customer kept it")
    assert reversed_.status == Status.REVERSED
