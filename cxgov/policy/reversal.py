"""Who may reverse an action, and until when: a pure function of the charter, the action and the time.

The one fact it cannot know is whether the system of record's `until` event happened; it names that event
(`ReversalVerdict.until`) for the caller to ask the system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cxgov.charter.models import Charter
from cxgov.wire import ActionState, Status


@dataclass(frozen=True)
class ReversalVerdict:
    """The charter's answer to "may `person` reverse this action now?"."""

    refusal: str | None = None
    procedure: str | None = None
    owner_role: str | None = None
    escalate_to: list[str] = field(default_factory=list)
    """Who hears of a failed reversal: the owner role's coverage (or the owner role when it has none)."""
    until: str | None = None
    """The event that ends the reversal, still to be checked in the system of record."""

    @property
    def suffix(self) -> str:
        """The procedure, appended to a refusal."""
        return f"; procedure: {self.procedure}" if self.procedure else ""


def decide_reversal(charter: Charter, *, action: ActionState, person: str, now: datetime) -> ReversalVerdict:
    """May `person` reverse `action` at `now`? Refusals name the rule and carry the charter's procedure."""
    if action.status != Status.COMPLETED:
        return ReversalVerdict(
            refusal=f"action {action.action_id} is {action.status.value}: only a completed action can be reversed"
        )
    name = action.request.action
    definition = charter.actions.get(name)
    if definition is None:
        return ReversalVerdict(refusal=f"action {name} is not in charter v{charter.version}: nobody may reverse it")
    reversal = definition.reversal
    known = ReversalVerdict(procedure=reversal.procedure, owner_role=reversal.owner)
    if reversal.kind == "irreversible":
        return _refuse(known, f"{name} is irreversible")
    if reversal.owner is None:
        return _refuse(known, f"{name} has no reversal owner in charter v{charter.version}: nobody may reverse it")
    owners = charter.active_members(reversal.owner)
    if person not in owners:
        return ReversalVerdict(
            refusal=(
                f"{person} is not in {name}'s reversal owner role {reversal.owner} "
                f"(who may reverse: {', '.join(owners) or 'nobody'})"
            ),
            procedure=reversal.procedure,
            owner_role=reversal.owner,
        )
    coverage = charter.coverage(reversal.owner)
    escalate_to = (charter.members(coverage) if coverage else []) or owners
    allowed = ReversalVerdict(
        procedure=reversal.procedure, owner_role=reversal.owner, escalate_to=escalate_to, until=reversal.until
    )
    if reversal.kind == "window" and reversal.window is not None:
        closes = (action.settled_at or now) + reversal.window
        if now > closes:
            return _refuse(allowed, f"{name}'s reversal window closed at {closes.isoformat(timespec='seconds')}")
    return allowed


def _refuse(verdict: ReversalVerdict, refusal: str) -> ReversalVerdict:
    return ReversalVerdict(
        refusal=refusal + verdict.suffix,
        procedure=verdict.procedure,
        owner_role=verdict.owner_role,
        escalate_to=verdict.escalate_to,
    )
