"""What the console reads from Temporal beyond the API's own calls: the actions list and an action's reversal.

The actions list comes from Temporal visibility through the search attributes every action workflow upserts
(CxActor, CxAction, CxCustomer, CxStatus, CxAmount, CxChannel), newest first, on this server's task queue. A
reversal runs as its own workflow (`reverse-<action id>`), so a second visibility query marks the actions that
were reversed (or whose reversal failed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from temporalio.client import WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from cxgov.client import CxgovClient
from cxgov.errors import BadRequest, Unavailable
from cxgov.wire import ReversalState, Status
from workflows.action import CX_ACTION, CX_ACTOR, CX_AMOUNT, CX_CHANNEL, CX_CUSTOMER, CX_STATUS

FILTER_VALUE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,100}$")
"""What a filter may hold: names as the charter writes them (and nothing a visibility query could misread)."""
LIMIT = 100
REVERSAL_STATUSES = (Status.REVERSED, Status.REVERSAL_FAILED)
LISTED_STATUSES = (
    Status.AWAITING_APPROVAL,
    Status.COMPLETED,
    Status.DENIED,
    Status.EXPIRED,
    Status.COMPENSATED,
    Status.COMPENSATION_FAILED,
    Status.FAILED,
    *REVERSAL_STATUSES,
    Status.AUTHORIZING,
)
"""The statuses the actions list can filter by (an action settling is `executing` for milliseconds only)."""


@dataclass(frozen=True)
class ActionRow:
    action_id: str
    actor: str
    action: str
    customer: str
    channel: str
    amount: Decimal | None
    status: str
    started: datetime
    closed: datetime | None


@dataclass(frozen=True)
class Filters:
    actor: str = ""
    action: str = ""
    customer: str = ""
    status: str = ""

    def check(self) -> None:
        """Raises BadRequest naming the first filter that is not a plain name (or a known status)."""
        for name, value in (("actor", self.actor), ("action", self.action), ("customer", self.customer)):
            if value and not FILTER_VALUE.match(value):
                raise BadRequest(f"{name} {value[:40]!r}: letters, digits and . _ - : @ + only", field=name)
        if self.status and self.status not in {status.value for status in LISTED_STATUSES}:
            raise BadRequest(f"status {self.status[:40]!r} is not a status of an action", field="status")

    @property
    def any(self) -> bool:
        return bool(self.actor or self.action or self.customer or self.status)


async def list_actions(client: CxgovClient, filters: Filters, *, limit: int = LIMIT) -> list[ActionRow]:
    """The newest actions matching `filters` (at most `limit`), each with its status; reversals applied.

    Raises:
        BadRequest: A filter that is not a plain name or a known status.
        Unavailable: Visibility cannot be read.
    """
    filters.check()
    wanted = filters.status
    status = Status.COMPLETED.value if wanted in REVERSAL_STATUSES else wanted
    clauses = ['WorkflowType = "action"', f'TaskQueue = "{client.task_queue}"']
    for key, value in ((CX_ACTOR, filters.actor), (CX_ACTION, filters.action), (CX_CUSTOMER, filters.customer)):
        if value:
            clauses.append(f'{key.name} = "{value}"')
    if status:
        clauses.append(f'{CX_STATUS.name} = "{status}"')
    try:
        executions = [execution async for execution in client.client.list_workflows(" AND ".join(clauses), limit=limit)]
        reversed_ = await _reversals(client, filters) if any(_status(e) == Status.COMPLETED for e in executions) else {}
    except RPCError as err:
        raise Unavailable(f"Temporal visibility cannot be read: {err.message}") from None
    rows = [_row(execution, reversed_) for execution in executions]
    return [row for row in rows if not wanted or row.status == wanted]


async def _reversals(client: CxgovClient, filters: Filters) -> dict[str, str]:
    """Action id -> reversed | reversal_failed, for the reversals that ran on this task queue."""
    clauses = [
        'WorkflowType = "reversal"',
        f'TaskQueue = "{client.task_queue}"',
        'ExecutionStatus = "Completed"',
    ]
    for key, value in ((CX_ACTION, filters.action), (CX_CUSTOMER, filters.customer)):
        if value:
            clauses.append(f'{key.name} = "{value}"')
    found: dict[str, str] = {}
    async for execution in client.client.list_workflows(" AND ".join(clauses), limit=10 * LIMIT):
        status = execution.typed_search_attributes.get(CX_STATUS)
        if status in REVERSAL_STATUSES:
            found[execution.id.removeprefix("reverse-")] = status
    return found


def _status(execution: WorkflowExecution) -> str:
    return execution.typed_search_attributes.get(CX_STATUS) or ""


def _row(execution: WorkflowExecution, reversed_: dict[str, str]) -> ActionRow:
    attributes = execution.typed_search_attributes
    status = _status(execution)
    if status == Status.COMPLETED and execution.id in reversed_:
        status = reversed_[execution.id]
    if execution.status not in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        status = execution.status.name.lower()  # terminated, timed_out, canceled: it never settled on its own
    return ActionRow(
        action_id=execution.id,
        actor=_text(attributes.get(CX_ACTOR)),
        action=_text(attributes.get(CX_ACTION)),
        customer=_text(attributes.get(CX_CUSTOMER)),
        channel=_text(attributes.get(CX_CHANNEL)),
        amount=_amount(attributes.get(CX_AMOUNT)),
        status=status or "unknown",
        started=execution.start_time,
        closed=execution.close_time,
    )


def _text(value: str | None) -> str:
    return value or ""


def _amount(value: float | None) -> Decimal | None:
    if value is None:
        return None
    amount = Decimal(str(value))
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


@dataclass(frozen=True)
class ReversalView:
    """The reversal of an action: its result once it ran, or the refusal of the latest request."""

    state: ReversalState | None = None
    refused: str | None = None


async def reversal_view(client: CxgovClient, action_id: str) -> ReversalView | None:
    """What became of the latest reversal request for `action_id` (None when nobody asked, or while it runs)."""
    found = await client.reversal_of(action_id)
    if found is None or found == (None, None):
        return None
    state, refused = found
    return ReversalView(state=state, refused=refused)
