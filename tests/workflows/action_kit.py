"""Helpers for the action workflow tests: charter variants, requests, polling, reading the history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness import Stack, eventually
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from cxgov.wire import ActionRequest, ActionState, ApprovalInput, ApprovalResult

T = TypeVar("T")

StackFactory = Callable[..., Awaitable[Stack]]
"""`stack_on(charter_path=..., step_timeout=...)`: a running stack on the dev server."""

REFUND_TEE = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
"""Allowed for support-bot: 40 is within approve_above 50 on a standard customer's 40 line."""
REFUND_JACKET_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
"""Escalates for support-bot: over approve_above 50, within max_amount 200, within the 180 line."""
BOOK_NORTH_9 = {"clinic": "north", "slot": "2026-12-01T09:00"}
"""A slot with one seat left (capacity 2, booked 1)."""
SHARE_FIELDS = {"recipient": "insights-partner-inc", "fields": ["name", "segment"]}


def request(stack: Stack, *, actor: str = "support-bot", action: str = "refund", **fields: Any) -> ActionRequest:
    """A request through the stack's client (so rule 2 is checked before anything starts)."""
    defaults: dict[str, Any] = {"customer": "C-100", "channel": "chat", "reason": "customer asked"}
    if action == "refund":
        defaults["params"] = dict(REFUND_TEE)
    return stack.client.request(actor=actor, action=action, **{**defaults, **fields})


async def settled(stack: Stack, action_id: str, *, within: float = 20.0) -> ActionState:
    """The action once it is settled (awaiting approval or final)."""
    return await stack.client.wait_settled(action_id, wait=within)


async def closed(stack: Stack, action_id: str, *, within: float = 20.0) -> ActionState:
    """The action once its workflow has closed; its result."""
    handle = stack.temporal.get_workflow_handle(action_id)

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s != WorkflowExecutionStatus.RUNNING, within=within, what=f"{action_id} closes")
    return await stack.client.status(action_id)


@dataclass
class UpdateOnRecord:
    """One approve/deny Update as the workflow history holds it."""

    update_id: str
    name: str
    attempt: ApprovalInput
    result: ApprovalResult | None


def updates_in_history(history: WorkflowHistory) -> list[UpdateOnRecord]:
    """Every accepted Update of the history with its input and outcome, in the order accepted."""
    converter = pydantic_data_converter.payload_converter
    found: dict[str, UpdateOnRecord] = {}
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            [attempt] = converter.from_payloads(list(accepted.input.args.payloads), [ApprovalInput])
            update_id = accepted.meta.update_id
            assert update_id not in found, f"update {update_id} accepted twice"
            found[update_id] = UpdateOnRecord(update_id, accepted.input.name, attempt, None)
        elif event.HasField("workflow_execution_update_completed_event_attributes"):
            completed = event.workflow_execution_update_completed_event_attributes
            [result] = converter.from_payloads(list(completed.outcome.success.payloads), [ApprovalResult])
            found[completed.meta.update_id].result = result
    return list(found.values())


async def history_updates(client: Client, action_id: str) -> list[UpdateOnRecord]:
    history = await client.get_workflow_handle(action_id).fetch_history()
    return updates_in_history(history)
