"""Break-glass: a person in the charter's override roles lets one denied request proceed, on the record.

`cxgov override ACTION_ID --as PERSON --reason TEXT` re-runs the denied request as a new action
(`<id>-override`) carrying the person's signed grant. Authorize decides it afresh and lets the grant turn a
deny into an allow (rule `0-override`) only when the denial is one a person may take responsibility for: never
a gap (no grant covers it), a frozen scope, an excluded SKU, bad input, a failed signature, a false precondition
or an unreachable system of record (the system would refuse the effect anyway), never a person's own request,
never a denial a person made on the ladder, and never above the overriding person's own `approve_limit`. The
front door checks the same before starting anything (`override_refusal`), so a refusal has no effect.

Each override is a row here and an `override` record on the audit chain. It stays flagged in `gaps` until
someone else in the override or freeze roles reviews it (`cxgov overrides review`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Column, Text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter.models import Charter
from cxgov.errors import BadRequest, Denied, NotFound
from cxgov.killswitch import Freeze
from cxgov.policy.params import ACTION_ID_BODY
from cxgov.wire import ActionRequest, ActionState, Decision, Outcome, Status

OVERRIDE_RULE = "0-override"
NEVER_OVERRIDDEN = {
    "1-no-grant": "no grant covers it (a gap): a charter change is the way, not a break-glass",
    "0-frozen": "its scope is frozen: unfreeze first",
    "4-excluded-sku": "the SKU is excluded: nobody takes this action on it, at any amount",
    "4-precondition": "a precondition is false in the system of record, which would refuse the effect anyway",
    "4-system-of-record": "the system of record could not be asked; try the request again",
    "4-unknown-customer": "the customer is not in the system of record",
}
"""Rules no override turns into an allow, with why. Rules 0 and 2 (signatures, bad input) never are either."""


class OverrideRow(SQLModel, table=True):
    """One override of one denied action, and its review."""

    __tablename__ = "override"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(max_length=200, unique=True)
    """The denied action."""
    override_id: str = Field(max_length=200)
    """The action that re-runs it under the override."""
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    customer: str = Field(max_length=100)
    rule: str = Field(max_length=64)
    """The rule that had denied it."""
    person: str = Field(max_length=100)
    via: str = Field(max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_via: str | None = Field(default=None, max_length=200)
    review_reason: str | None = Field(default=None, sa_column=Column(Text))
    reviewed_at: datetime | None = Field(default=None, index=True)


class Override(BaseModel):
    """An override as `override`, `overrides list` and `gaps` show it."""

    action_id: str
    override_id: str
    actor: str
    action: str
    customer: str
    rule: str
    person: str
    via: str
    reason: str
    at: datetime
    reviewed_by: str | None = None
    review_reason: str | None = None
    reviewed_at: datetime | None = None

    def sentence(self) -> str:
        return (
            f"{self.person} overrode {self.rule} on {self.action_id} ({self.actor} {self.action} for "
            f"{self.customer}) at {self.at:%Y-%m-%d %H:%M} UTC: {self.reason}"
        )


def override_id(action_id: str) -> str:
    """The id of the action that re-runs `action_id` under an override: one per denied action."""
    candidate = f"{action_id}-override"
    if len(candidate) - len("action-") <= ACTION_ID_BODY:
        return candidate
    return f"action-override-{hashlib.sha256(action_id.encode()).hexdigest()[:40]}"


def overriders(charter: Charter) -> list[str]:
    return charter.holders(charter.override_roles)


def amount_of(charter: Charter, request: ActionRequest) -> Decimal | None:
    action = charter.actions.get(request.action)
    if action is None or action.amount_param is None:
        return None
    value = request.params.get(action.amount_param)
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def grant_refusal(
    charter: Charter, request: ActionRequest, decision: Decision, *, person: str, blocked: bool = False
) -> str | None:
    """Why `person`'s override cannot turn `decision` on `request` into an allow, or None when it can.

    `blocked`: the system of record found a declared precondition false (authorize knows; the front door only
    sees the decision's first rule, so authorize checks again with every fact).
    """
    if person not in overriders(charter):
        roles = ", ".join(charter.override_roles) or "none"
        return f"{person} is not in the override roles of charter v{charter.version} ({roles})"
    if person == request.actor:
        return f"{person} requested this action; no one overrides a denial of their own request"
    never = NEVER_OVERRIDDEN.get(decision.rule)
    if never is not None:
        return f"denied by {decision.rule}, which is never overridden: {never}"
    if decision.rule.startswith(("0-", "2-", "3-")):
        return f"denied by {decision.rule}: {'; '.join(decision.reasons)}; an override does not mend that"
    if blocked:
        return NEVER_OVERRIDDEN["4-precondition"]
    action = charter.actions.get(request.action)
    sku = request.params.get("sku")
    if action is not None and isinstance(sku, str) and action.excludes(sku):
        return f"SKU {sku} is excluded for {request.action}: {NEVER_OVERRIDDEN['4-excluded-sku']}"
    amount = amount_of(charter, request)
    limit = charter.people[person].approve_limit
    if amount is not None and (limit is None or amount > limit):
        shown = "no approve_limit" if limit is None else f"approve_limit {limit}"
        return f"amount {amount} is above {person}'s {shown}: the overriding person's own limit applies"
    return None


def override_refusal(charter: Charter, state: ActionState, *, person: str, frozen: Freeze | None) -> str | None:
    """Why `person` may not override the action `state` (checked by the front door before anything starts);
    `frozen` is the freeze in force over it, if any."""
    if frozen is not None:
        return f"{NEVER_OVERRIDDEN['0-frozen']} ({frozen.sentence()})"
    if state.status != Status.DENIED or state.decision is None:
        return f"{state.action_id} is {state.status.value}: only a denied action can be overridden"
    for record in state.approvals:
        if record.accepted and record.verdict == "deny":
            return f"{record.person} denied it on the ladder: a person's denial is not overridden"
    return grant_refusal(charter, state.request, state.decision, person=person)


def overridden(decision: Decision, *, person: str, reason: str) -> Decision:
    """The allow an accepted override makes of `decision`, keeping what it overrode in the reasons."""
    return decision.model_copy(
        update={
            "outcome": Outcome.ALLOW,
            "rule": OVERRIDE_RULE,
            "reasons": [
                f"break-glass by {person}: {reason}",
                f"overrode {decision.rule}: {'; '.join(decision.reasons)}",
            ],
            "gap": False,
        }
    )


class OverrideBook:
    """The overrides and their reviews."""

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        SQLModel.metadata.create_all(self.database.engine, tables=[SQLModel.metadata.tables["override"]])
        self._archive = AuditArchive(url)

    def close(self) -> None:
        self.database.close()
        self._archive.close()

    def record(self, state: ActionState, *, person: str, via: str, reason: str, now: datetime) -> Override:
        """Record `person`'s override of the denied action `state`; a second override of it is refused.

        Raises:
            BadRequest: it is already overridden (the override is named), or no reason was given.
        """
        if not reason.strip():
            raise BadRequest("--reason is required: say why, for the audit trail")
        assert state.decision is not None
        request = state.request
        row = OverrideRow(
            action_id=state.action_id,
            override_id=override_id(state.action_id),
            actor=request.actor,
            action=request.action,
            customer=request.customer,
            rule=state.decision.rule,
            person=person,
            via=via,
            reason=reason,
            at=to_db_time(now),
        )
        try:
            with self.database.writing() as connection:
                connection.execute(OverrideRow.__table__.insert().values(**row.model_dump(exclude={"id"})))  # type: ignore[attr-defined]
        except IntegrityError:
            raise BadRequest(f"already overridden: {self.get(state.action_id).sentence()}") from None
        found = _override(row)
        self._audit("override", found, person=person, via=via, reason=reason, now=now)
        return found

    def review(
        self, action_id: str, *, charter: Charter, person: str, via: str, reason: str, now: datetime
    ) -> Override:
        """Record that `person` reviewed the override of `action_id`: it leaves `gaps`.

        Raises:
            NotFound: no override of it. Denied: the reviewer made the override, or is in neither the override
                nor the freeze roles. BadRequest: already reviewed, or no reason.
        """
        if not reason.strip():
            raise BadRequest("--reason is required: say what the review found")
        found = self.get(action_id)
        if found.reviewed_by is not None:
            raise BadRequest(f"already reviewed by {found.reviewed_by}: {found.review_reason}")
        if person == found.person:
            raise Denied(f"{person} made this override; someone else reviews it")
        reviewers = charter.holders([*charter.override_roles, *charter.freeze_roles])
        if person not in reviewers:
            raise Denied(f"{person} is not in the override or freeze roles ({', '.join(reviewers) or 'nobody'})")
        with self.database.writing() as connection:
            connection.execute(
                OverrideRow.__table__.update()  # type: ignore[attr-defined]
                .where(col(OverrideRow.action_id) == action_id, col(OverrideRow.reviewed_at).is_(None))
                .values(reviewed_by=person, reviewed_via=via, review_reason=reason, reviewed_at=to_db_time(now))
            )
        reviewed = found.model_copy(update={"reviewed_by": person, "review_reason": reason, "reviewed_at": now})
        self._audit("override_reviewed", reviewed, person=person, via=via, reason=reason, now=now)
        return reviewed

    def get(self, action_id: str) -> Override:
        with self.database.reading() as connection:
            row = connection.execute(select(OverrideRow).where(col(OverrideRow.action_id) == action_id)).first()
        if row is None:
            raise NotFound(f"{action_id} has no override")
        return _override(OverrideRow.model_validate(row._mapping))

    def all(self, *, unreviewed: bool = False, since: datetime | None = None) -> list[Override]:
        """Every override (only those not yet reviewed; only those made at or after `since`), oldest first."""
        statement = select(OverrideRow).order_by(col(OverrideRow.id))
        if unreviewed:
            statement = statement.where(col(OverrideRow.reviewed_at).is_(None))
        if since is not None:
            statement = statement.where(col(OverrideRow.at) >= to_db_time(since))
        with self.database.reading() as connection:
            rows = connection.execute(statement).all()
        return [_override(OverrideRow.model_validate(row._mapping)) for row in rows]

    def _audit(self, kind: str, found: Override, *, person: str, via: str, reason: str, now: datetime) -> None:
        detail = {"override_id": found.override_id, "rule": found.rule, "via": via}
        record = AuditRecordBase(
            kind=kind,
            time=now,
            source=f"{kind}#{found.action_id}",
            action_id=found.action_id,
            actor=person,
            actor_kind="person",
            customer=found.customer,
            action=found.action,
            reason=reason,
            rule=found.rule,
            detail=json.dumps(detail, separators=(",", ":")),
        )
        self._archive.append_records(records=[record])


def _override(row: OverrideRow) -> Override:
    return Override(
        action_id=row.action_id,
        override_id=row.override_id,
        actor=row.actor,
        action=row.action,
        customer=row.customer,
        rule=row.rule,
        person=row.person,
        via=row.via,
        reason=row.reason,
        at=from_db_time(row.at),
        reviewed_by=row.reviewed_by,
        review_reason=row.review_reason,
        reviewed_at=from_db_time(row.reviewed_at) if row.reviewed_at is not None else None,
    )
