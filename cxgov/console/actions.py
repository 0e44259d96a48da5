"""The console's pages about actions: my approvals (`/`), the actions list, and one action's page.

Deciding and reversing go through the API's own code (`decide_as`, the `reverse` endpoint), so the server signs
a console approval exactly as it signs an API one, and the workflow checks it the same way. The forms are shown
only to those allowed (approve: the eligible people of the current ladder step; deny: anyone on that step but
the requester; reverse: as the charter's reversal policy says), but the workflow decides: a refused attempt is
recorded in the action's history and its reason is shown on the page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cxgov.api import routes
from cxgov.charter import Charter
from cxgov.console.door import ConsoleDep, FormDep, VisitorDep, field
from cxgov.console.listing import LISTED_STATUSES, Filters, list_actions, reversal_view
from cxgov.console.render import ConsoleRoute, page
from cxgov.errors import BadRequest, CxgovError
from cxgov.policy.params import check_action_id
from cxgov.policy.reversal import decide_reversal
from cxgov.questions import actor_names
from cxgov.summaries import request_amount
from cxgov.wire import ActionState, PendingApproval, Status

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
DECIDE_WAIT = 15.0
"""Seconds an approval waits for the action to settle before the page is shown (executing, if not yet)."""


@dataclass(frozen=True)
class Allowed:
    """What the signed-in person may do with an action now, and why not when they may not."""

    approve: bool = False
    deny: bool = False
    reverse: bool = False
    why_not: str | None = None
    reverse_why_not: str | None = None


def allowed(charter: Charter, state: ActionState, person: str, *, now: datetime) -> Allowed:
    """Which forms to show `person`: the workflow has the last word on each."""
    reverse, reverse_why_not = False, None
    if state.status == Status.COMPLETED:
        verdict = decide_reversal(charter, action=state, person=person, now=now)
        reverse, reverse_why_not = verdict.refusal is None, verdict.refusal
    pending = state.pending
    if state.status != Status.AWAITING_APPROVAL or pending is None:
        return Allowed(reverse=reverse, reverse_why_not=reverse_why_not)
    if person == state.request.actor:
        return Allowed(why_not="you requested this action: no one approves or denies their own request")
    approve = person in pending.eligible
    on_step = person in charter.active_members(pending.role)
    why_not = None
    if not approve and on_step:
        limit = charter.people[person].approve_limit
        shown = "no approve_limit" if limit is None else f"approve_limit {limit:,} {charter.currency}"
        why_not = f"the amount is above your {shown}; you may still deny it"
    elif not approve:
        who = ", ".join(pending.eligible) or "nobody"
        why_not = (
            f"ladder step {pending.phase} of {pending.phases} is for role {pending.role}; who may decide now: {who}"
        )
    return Allowed(approve=approve, deny=approve or on_step, why_not=why_not)


@dataclass(frozen=True)
class Card:
    """One approval waiting on the signed-in person, with what they need to decide it."""

    pending: PendingApproval
    state: ActionState
    params: dict[str, str]
    others: list[str]
    allowed: Allowed


@router.get("/")
async def my_approvals(request: Request, console: ConsoleDep, person: VisitorDep) -> Response:
    """The approvals the signed-in person may decide now, soonest deadline first; then the rest of the queue."""
    gate = console.gate
    charter = gate.charters.get()
    listing = await gate.client.pending()
    queue = listing.items
    mine = [item for item in queue if person.name in item.eligible]
    states = await asyncio.gather(*(gate.client.status(item.action_id) for item in mine), return_exceptions=True)
    now = datetime.now(UTC)
    cards = [
        Card(
            pending=item,
            state=state,
            params=_shown_params(state, charter),
            others=[name for name in item.eligible if name != person.name],
            allowed=allowed(charter, state, person.name, now=now),
        )
        for item, state in zip(mine, states, strict=True)
        if isinstance(state, ActionState) and state.status == Status.AWAITING_APPROVAL
    ]
    others = [item for item in queue if person.name not in item.eligible]
    return page(
        request,
        "approvals.html",
        visitor=person,
        title="My approvals",
        cards=cards,
        others=others,
        unreadable=listing.unreadable,
        currency=charter.currency,
        roles=charter.people[person.name].roles,
        limit=charter.people[person.name].approve_limit,
    )


@router.get("/actions")
async def actions(
    request: Request,
    console: ConsoleDep,
    person: VisitorDep,
    actor: str = "",
    action: str = "",
    customer: str = "",
    status: str = "",
) -> Response:
    """Actions from Temporal visibility, newest first, filtered by actor, action, customer and status."""
    charter = console.gate.charters.get()
    filters = Filters(
        actor=actor.strip()[:200], action=action.strip()[:200], customer=customer.strip()[:200], status=status
    )
    rows, problem = [], None
    try:
        rows = await list_actions(console.gate.client, filters)
    except BadRequest as err:
        problem = err.message
    return page(
        request,
        "actions.html",
        visitor=person,
        title="Actions",
        status_code=422 if problem else 200,
        rows=rows,
        filters=filters,
        problem=problem,
        statuses=[status.value for status in LISTED_STATUSES],
        actor_names=actor_names(charter),
        action_names=list(charter.actions),
        currency=charter.currency,
    )


@router.get("/actions/{action_id}")
async def action_page(request: Request, action_id: str, console: ConsoleDep, person: VisitorDep) -> Response:
    """One action: request, decision, every approval attempt, steps, reversal; the forms its viewer may use."""
    check_action_id(action_id)
    gate = console.gate
    state = await gate.client.status(action_id)
    charter = gate.charters.get()
    definition = charter.actions.get(state.request.action)
    reversal = await reversal_view(gate.client, action_id)
    return page(
        request,
        "action.html",
        visitor=person,
        title=f"{state.request.action} for {state.request.customer}",
        state=state,
        amount=_amount(state, charter),
        currency=charter.currency,
        params=_shown_params(state, charter),
        definition=definition,
        allowed=allowed(charter, state, person.name, now=datetime.now(UTC)),
        reversal=reversal,
    )


@router.post("/actions/{action_id}/approve")
async def approve(action_id: str, console: ConsoleDep, person: VisitorDep, form: FormDep) -> Response:
    """Approve as the signed-in person, bound to the digest the page showed."""
    return await _decide(console, person, action_id, "approve", form)


@router.post("/actions/{action_id}/deny")
async def deny(action_id: str, console: ConsoleDep, person: VisitorDep, form: FormDep) -> Response:
    """Deny as the signed-in person, bound to the digest the page showed."""
    return await _decide(console, person, action_id, "deny", form)


@router.post("/actions/{action_id}/reverse")
async def reverse(action_id: str, console: ConsoleDep, person: VisitorDep, form: FormDep) -> Response:
    """Undo a completed action as the signed-in person (a member of its reversal owner role)."""
    check_action_id(action_id)
    session = person.session
    try:
        body = routes.ReverseBody(reason=field(form, "reason"))
        done = await routes.reverse(action_id, body, console.gate, person.principal)
    except CxgovError as err:
        session.flash("error", _sentence(err.message))
    else:
        if done["status"] == Status.REVERSED:
            session.flash("ok", "Reversed: the undo ran and the system of record is back as it was.")
        else:
            session.flash(
                "error", _sentence(f"The reversal ended {done['status']}: {done.get('error') or 'see below'}")
            )
    return RedirectResponse(f"/actions/{action_id}", status_code=303)


async def _decide(
    console: ConsoleDep, person: VisitorDep, action_id: str, verdict: Literal["approve", "deny"], form: FormDep
) -> Response:
    check_action_id(action_id)
    session = person.session
    reason = field(form, "reason")
    digest = field(form, "digest", limit=64) or None
    try:
        if not reason:
            raise BadRequest("write the reason for your decision: it goes on the action's record")
        if digest is None:
            raise BadRequest("the form names no digest: a decision is bound to the request it was shown")
        body = routes.DecisionBody(reason=reason, digest=digest, wait=DECIDE_WAIT)
        result, status = await routes.decide_as(console.gate, person.principal, action_id, verdict, body)
    except CxgovError as err:
        session.flash("error", _sentence(err.message))
    else:
        if not result.accepted:
            session.flash("error", _sentence(f"Refused: {result.refusal}. The attempt is on the action's record"))
        elif verdict == "approve":
            session.flash("ok", f"You approved it. The action is {status.value.replace('_', ' ')}.")
        else:
            session.flash("ok", f"You denied it. The action is {status.value.replace('_', ' ')}.")
    return RedirectResponse(f"/actions/{action_id}", status_code=303)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _amount(state: ActionState, charter: Charter) -> Decimal | None:
    definition = charter.actions.get(state.request.action)
    if state.pending is not None and state.pending.amount is not None:
        return state.pending.amount
    return request_amount(state.request, definition.amount_param if definition is not None else None)


def _shown_params(state: ActionState, charter: Charter) -> dict[str, str]:
    """The request's params as text, the money param last (it is shown on its own as the amount)."""
    definition = charter.actions.get(state.request.action)
    money = definition.amount_param if definition is not None else None
    return {
        name: ", ".join(value) if isinstance(value, list) else str(value)
        for name, value in state.request.params.items()
        if name != money
    }
