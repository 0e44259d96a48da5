"""What the front door does for the kill switch and break-glass, beyond the books that record them.

A freeze is recorded first (from then on authorize denies the scope, 0-frozen), then every action of the scope
that waits on an approval is sent the signed freeze as a workflow Update and ends denied; an approval that
raced the freeze is caught by the action itself, which reads the kill switch again before it executes. An
override is checked against the denied action (nothing starts when it is refused), recorded, then the denied
request runs again as `<id>-override` with the person's signed grant. Each is told to the people who must know,
through a notice workflow (durable and retried like every notice).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from cxgov.charter.models import Charter
from cxgov.client import CxgovClient
from cxgov.errors import Denied
from cxgov.identity.signing import freeze_payload, override_payload
from cxgov.killswitch import Freeze, FreezeBook, Scope, check_freezer
from cxgov.notify.models import Event, Notice
from cxgov.overrides import Override, OverrideBook, override_id, override_refusal
from cxgov.wire import ActionState, FreezeOrder, FreezeResult, OverrideGrant, Status
from workflows.action import ActionWorkflow
from workflows.notice import NoticeWorkflow, notice_workflow_id


class FreezeOutcome(BaseModel):
    """What `cxgov freeze` and `unfreeze` answer."""

    freeze: Freeze
    ended: list[str] = []
    """Actions that waited on an approval in the scope and ended denied (0-frozen)."""
    missed: list[str] = []
    """Waiting actions the freeze could not reach now, with why; each still reads the kill switch before it
    executes, so none can run."""


class OverrideOutcome(BaseModel):
    """What `cxgov override` answers: the record and the action that re-runs the request."""

    override: Override
    action: ActionState


async def set_freeze(
    client: CxgovClient, book: FreezeBook, charter: Charter, scope: Scope, *, person: str, via: str, reason: str
) -> FreezeOutcome:
    """Freeze `scope` as `person`, then end the waiting actions in it.

    Raises:
        Denied: `person` is not in the freeze roles. BadRequest: already frozen, or no reason.
    """
    check_freezer(charter, person)
    freeze = await asyncio.to_thread(book.freeze, scope, person=person, via=via, reason=reason, now=datetime.now(UTC))
    outcome = FreezeOutcome(freeze=freeze)
    for action_id in await _waiting(client, scope):
        answer = await _send_freeze(client, action_id, freeze=freeze, person=person, reason=reason)
        if answer is not None and answer.applied:
            outcome.ended.append(action_id)
        elif answer is None or answer.status == Status.AWAITING_APPROVAL:
            outcome.missed.append(f"{action_id}: {answer.refusal if answer else 'could not be reached now'}")
    await tell(client, _freeze_notice(charter, freeze, event=Event.FROZEN, ended=outcome.ended))
    return outcome


async def lift_freeze(
    client: CxgovClient, book: FreezeBook, charter: Charter, scope: Scope, *, person: str, via: str, reason: str
) -> FreezeOutcome:
    """Lift the freeze of `scope` as `person` (see `FreezeBook.unfreeze` for what is refused)."""
    check_freezer(charter, person)
    freeze = await asyncio.to_thread(book.unfreeze, scope, person=person, via=via, reason=reason, now=datetime.now(UTC))
    await tell(client, _freeze_notice(charter, freeze, event=Event.UNFROZEN, ended=[]))
    return FreezeOutcome(freeze=freeze)


async def grant_override(
    client: CxgovClient,
    book: OverrideBook,
    freezes: FreezeBook,
    charter: Charter,
    action_id: str,
    *,
    person: str,
    via: str,
    reason: str,
    wait: float,
) -> OverrideOutcome:
    """Let the denied action `action_id` proceed, as `person`: checked, recorded, then run again.

    Raises:
        NotFound: no such action. Denied: the override is refused (why is in the message; nothing recorded or
            started). BadRequest: already overridden, or no reason.
    """
    state = await client.status(action_id)
    request = state.request
    frozen = await asyncio.to_thread(freezes.covering, actor=request.actor, action=request.action)
    refusal = override_refusal(charter, state, person=person, frozen=frozen)
    if refusal is not None:
        raise Denied(f"override refused: {refusal}", rule="override")
    found = await asyncio.to_thread(book.record, state, person=person, via=via, reason=reason, now=datetime.now(UTC))
    new_id = override_id(action_id)
    payload = override_payload(action_id=new_id, of_action=action_id, person=person, reason=reason)
    grant = OverrideGrant(
        of_action=action_id, person=person, reason=reason, assertion=client.sign(payload, principal=person)
    )
    rerun = request.model_copy(update={"action_id": new_id, "assertion": None, "override": grant})
    await client.start(rerun)
    settled = await client.wait_settled(new_id, wait=wait)
    await tell(client, _override_notice(charter, found, settled))
    return OverrideOutcome(override=found, action=settled)


async def tell(client: CxgovClient, notice: Notice) -> None:
    """Start the notice's own workflow (delivery is retried there); a notice already started is left alone."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.client.start_workflow(
            NoticeWorkflow.run,
            notice,
            id=notice_workflow_id(notice.key),
            task_queue=client.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=notice.subject[:200],
        )


async def _waiting(client: CxgovClient, scope: Scope) -> list[str]:
    query = (
        f'WorkflowType = "action" AND ExecutionStatus = "Running" AND TaskQueue = "{client.task_queue}" '
        f'AND CxStatus = "{Status.AWAITING_APPROVAL}"'
    )
    if scope.kind == "actor":
        query += f' AND CxActor = "{scope.name}"'
    elif scope.kind == "action":
        query += f' AND CxAction = "{scope.name}"'
    return [execution.id async for execution in client.client.list_workflows(query)]


async def _send_freeze(
    client: CxgovClient, action_id: str, *, freeze: Freeze, person: str, reason: str
) -> FreezeResult | None:
    scope = freeze.scope
    payload = freeze_payload(action_id=action_id, scope=scope.key, person=person, reason=reason)
    order = FreezeOrder(person=person, reason=reason, scope=scope.key, assertion=client.sign(payload, principal=person))
    handle = client.client.get_workflow_handle_for(ActionWorkflow.run, action_id)
    try:
        return await handle.execute_update(
            ActionWorkflow.freeze, order, id=f"freeze-{freeze.id}", rpc_timeout=timedelta(seconds=15)
        )
    except (WorkflowUpdateFailedError, RPCError):
        return None


def _freeze_notice(charter: Charter, freeze: Freeze, *, event: Event, ended: list[str]) -> Notice:
    scope = freeze.scope
    people: list[str] = []
    roles = list(charter.freeze_roles)
    if scope.kind == "actor" and scope.name in charter.actors:
        people.append(charter.actors[scope.name].owner)
    if scope.kind == "action" and scope.name in charter.actions:
        owner = charter.actions[scope.name].reversal.owner
        roles += [owner] if owner else []
    if event == Event.FROZEN:
        subject = f"Frozen: {scope.shown}, by {freeze.frozen_by}"
        lines = [freeze.sentence(), "New requests in this scope are denied (rule 0-frozen) until it is unfrozen."]
        if ended:
            lines.append(f"Ended while waiting for approval: {', '.join(ended)}")
        key = f"freeze-{freeze.id}:{event.value}:0"
    else:
        subject = f"Unfrozen: {scope.shown}, by {freeze.lifted_by}"
        lines = [f"{scope.shown} unfrozen by {freeze.lifted_by}: {freeze.lift_reason}", f"It was: {freeze.sentence()}"]
        key = f"freeze-{freeze.id}:{event.value}:0"
    return Notice(key=key, event=event, subject=subject, body="\n".join(lines), people=people, roles=roles)


def _override_notice(charter: Charter, found: Override, settled: ActionState) -> Notice:
    lines = [
        found.sentence(),
        f"It runs again as {found.override_id}: {settled.status.value}.",
        "Review it with `cxgov overrides review "
        f"{found.action_id} --as PERSON --reason TEXT` (someone other than {found.person}).",
    ]
    return Notice(
        key=f"{found.action_id}:{Event.OVERRIDDEN.value}:0",
        event=Event.OVERRIDDEN,
        subject=f"Break-glass: {found.person} overrode {found.rule} for {found.actor} {found.action}",
        body="\n".join(lines),
        action_id=found.override_id,
        roles=[*charter.override_roles, *charter.freeze_roles],
    )
