"""Live actions are queryable in Temporal visibility by the Cx* search attributes each workflow upserts."""

from __future__ import annotations

from action_kit import REFUND_JACKET_120, request
from harness import Stack, eventually
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import WorkflowExecution

from cxgov.settings import SEARCH_ATTRIBUTES
from cxgov.wire import Status
from workflows.action import (
    CX_ACTION,
    CX_ACTOR,
    CX_AMOUNT,
    CX_CHANNEL,
    CX_CHARTER_VERSION,
    CX_CUSTOMER,
    CX_STATUS,
    SEARCH_ATTRIBUTE_KEYS,
)


def test_the_workflows_upsert_exactly_the_attributes_the_stack_registers() -> None:
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    upserted = {key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTE_KEYS}
    assert upserted == {name: kinds[kind] for name, kind in SEARCH_ATTRIBUTES.items()}


async def listed(stack: Stack, query: str) -> list[WorkflowExecution]:
    return [execution async for execution in stack.temporal.list_workflows(query)]


async def test_completed_action_is_found_by_actor_and_status(stack: Stack) -> None:
    state = await stack.client.act(request(stack), wait=20)
    assert state.status == Status.COMPLETED

    # Visibility lags the workflow by tens of milliseconds: poll until the closed action shows.
    query = f'CxActor = "support-bot" AND CxStatus = "completed" AND WorkflowId = "{state.action_id}"'
    [found] = await eventually(lambda: listed(stack, query), lambda hits: len(hits) == 1, what=query)

    attributes = found.typed_search_attributes
    assert found.workflow_type == "action"
    assert attributes.get(CX_ACTOR) == "support-bot"
    assert attributes.get(CX_ACTION) == "refund"
    assert attributes.get(CX_CUSTOMER) == "C-100"
    assert attributes.get(CX_CHANNEL) == "chat"
    assert attributes.get(CX_STATUS) == "completed"
    assert attributes.get(CX_AMOUNT) == 40.0
    assert attributes.get(CX_CHARTER_VERSION) == 3


async def test_escalated_action_is_found_while_it_waits_and_after_it_completes(stack: Stack) -> None:
    state = await stack.client.act(request(stack, params=REFUND_JACKET_120), wait=20)
    assert state.status == Status.AWAITING_APPROVAL

    query = f'CxStatus = "awaiting_approval" AND CxAmount > 100 AND WorkflowId = "{state.action_id}"'
    [waiting] = await eventually(lambda: listed(stack, query), lambda hits: len(hits) == 1, what=query)
    assert waiting.typed_search_attributes.get(CX_AMOUNT) == 120.0

    # The live status moves with the action.
    await stack.client.decide(state.action_id, verdict="approve", person="ana", reason="ok")
    done_query = f'CxStatus = "completed" AND WorkflowId = "{state.action_id}"'
    await eventually(lambda: listed(stack, done_query), lambda hits: len(hits) == 1, what=done_query)
