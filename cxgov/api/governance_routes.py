"""The kill switch and break-glass endpoints (people only): freeze, unfreeze, override, and their review."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import Field

from cxgov.api.routes import MAX_WAIT, Body, CallerDep, GateDep, person
from cxgov.audit.holds import HoldBook, LegalHold, hold_scope
from cxgov.killswitch import FreezeBook, scope_of
from cxgov.overrides import OverrideBook
from cxgov.policy.params import check_action_id
from cxgov.shapes import action_json

router = APIRouter()
T = TypeVar("T")
Book = TypeVar("Book", FreezeBook, OverrideBook, HoldBook)


class FreezeBody(Body):
    actor: str | None = Field(default=None, max_length=100)
    action: str | None = Field(default=None, max_length=100)
    all: bool = False
    reason: str = Field(max_length=2000)
    person: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller (the CLI's `--as`)."""


class OverrideBody(Body):
    reason: str = Field(max_length=2000)
    wait: float = Field(default=30.0, ge=0, le=MAX_WAIT)
    person: str | None = Field(default=None, max_length=100)


class ReviewBody(Body):
    reason: str = Field(max_length=2000)
    person: str | None = Field(default=None, max_length=100)


async def _with(make: Callable[[str], Book], url: str, use: Callable[[Book], T]) -> T:
    def run() -> T:
        book = make(url)
        try:
            return use(book)
        finally:
            book.close()

    return await asyncio.to_thread(run)


@router.post("/v1/freezes", tags=["kill switch"])
async def freeze(body: FreezeBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Freeze an actor, an action, or everything (`all`), as the calling person, who must be in the charter's
    freeze roles (403 otherwise). New requests in the scope are denied (rule 0-frozen) from the next decision;
    actions of the scope waiting on an approval end denied (`ended`)."""
    from cxgov.api.interventions import set_freeze

    name = person(principal, "freezing", named=body.person)
    charter = gate.charters.get()
    scope = scope_of(charter, actor=body.actor, action=body.action, everything=body.all)
    book = FreezeBook(gate.settings.audit_url)
    try:
        outcome = await set_freeze(
            gate.client, book, charter, scope, person=name, via=principal.via, reason=body.reason
        )
    finally:
        book.close()
    return outcome.model_dump(mode="json")


@router.post("/v1/freezes/lift", tags=["kill switch"])
async def unfreeze(body: FreezeBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Lift the freeze of one scope, as a person in the freeze roles; 404 when the scope is not frozen."""
    from cxgov.api.interventions import lift_freeze

    name = person(principal, "unfreezing", named=body.person)
    charter = gate.charters.get()
    scope = scope_of(charter, actor=body.actor, action=body.action, everything=body.all)
    book = FreezeBook(gate.settings.audit_url)
    try:
        outcome = await lift_freeze(
            gate.client, book, charter, scope, person=name, via=principal.via, reason=body.reason
        )
    finally:
        book.close()
    return outcome.model_dump(mode="json")


@router.get("/v1/freezes", tags=["kill switch"])
async def freezes(gate: GateDep, principal: CallerDep, history: bool = False) -> dict[str, Any]:
    """The freezes in force (with `history`, every freeze ever set, lifted ones too), oldest first."""
    person(principal, "reading freezes")
    found = await _with(FreezeBook, gate.settings.audit_url, lambda book: book.all() if history else book.active())
    return {"freezes": [item.model_dump(mode="json") for item in found]}


@router.post("/v1/actions/{action_id}/override", tags=["break-glass"])
async def override(action_id: str, body: OverrideBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Break-glass: let one denied action proceed, as a person in the charter's override roles. Refused (403,
    nothing recorded or started) for a gap, a frozen scope, an excluded SKU, a false precondition, the
    person's own request, a person's denial on the ladder, or an amount above the person's approve_limit.
    The request runs again as `<id>-override`; the answer holds the override and that action's status."""
    from cxgov.api.interventions import grant_override

    check_action_id(action_id)
    name = person(principal, "overriding a denial", named=body.person)
    charter = gate.charters.get()
    book, freezes = OverrideBook(gate.settings.audit_url), FreezeBook(gate.settings.audit_url)
    try:
        outcome = await grant_override(
            gate.client,
            book,
            freezes,
            charter,
            action_id,
            person=name,
            via=principal.via,
            reason=body.reason,
            wait=body.wait,
        )
    finally:
        book.close()
        freezes.close()
    return {"override": outcome.override.model_dump(mode="json"), "action": action_json(outcome.action)}


@router.get("/v1/overrides", tags=["break-glass"])
async def overrides(gate: GateDep, principal: CallerDep, unreviewed: bool = False) -> dict[str, Any]:
    """Every override (only those nobody reviewed yet, with `unreviewed`), oldest first."""
    person(principal, "reading overrides")
    found = await _with(OverrideBook, gate.settings.audit_url, lambda book: book.all(unreviewed=unreviewed))
    return {"overrides": [item.model_dump(mode="json") for item in found]}


@router.post("/v1/overrides/{action_id}/review", tags=["break-glass"])
async def review_override(action_id: str, body: ReviewBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Review an override, as someone other than the person who made it, in the override or freeze roles; the
    override leaves `gaps`."""
    from datetime import UTC, datetime

    check_action_id(action_id)
    name = person(principal, "reviewing an override", named=body.person)
    charter = gate.charters.get()
    reviewed = await _with(
        OverrideBook,
        gate.settings.audit_url,
        lambda book: book.review(
            action_id, charter=charter, person=name, via=principal.via, reason=body.reason, now=datetime.now(UTC)
        ),
    )
    answer: dict[str, Any] = reviewed.model_dump(mode="json")
    return answer


class HoldBody(Body):
    customer: str | None = Field(default=None, max_length=100)
    actor: str | None = Field(default=None, max_length=100)
    reason: str = Field(max_length=2000)
    person: str | None = Field(default=None, max_length=100)


@router.post("/v1/audit/holds", tags=["audit"])
async def place_hold(body: HoldBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Place a legal hold on every audit record of a customer or an actor, as the calling person: retention never
    purges them while it stands."""
    name = person(principal, "placing a legal hold", named=body.person)
    kind, held = hold_scope(customer=body.customer, actor=body.actor)
    now = datetime.now(UTC)
    placed: LegalHold = await _with(
        HoldBook,
        gate.settings.audit_url,
        lambda book: book.place(kind=kind, name=held, reason=body.reason, person=name, via=principal.via, now=now),
    )
    return placed.model_dump(mode="json")


@router.get("/v1/audit/holds", tags=["audit"])
async def list_holds(gate: GateDep, principal: CallerDep, all: bool = False) -> dict[str, Any]:
    """The legal holds in force; `all=true`: released ones too."""
    found = await _with(HoldBook, gate.settings.audit_url, lambda book: book.holds(active_only=not all))
    return {"holds": [hold.model_dump(mode="json") for hold in found]}


@router.post("/v1/audit/holds/{hold_id}/release", tags=["audit"])
async def release_hold(hold_id: str, body: ReviewBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Release a legal hold, as a person in the charter's hold_roles (403 otherwise, 404 for no such hold)."""
    name = person(principal, "releasing a legal hold", named=body.person)
    charter = gate.charters.get()
    now = datetime.now(UTC)
    released: LegalHold = await _with(
        HoldBook,
        gate.settings.audit_url,
        lambda book: book.release(
            hold_id=hold_id, charter=charter, reason=body.reason, person=name, via=principal.via, now=now
        ),
    )
    return released.model_dump(mode="json")
