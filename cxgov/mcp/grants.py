"""What one principal may do, as the charter says: the answer of `GET /v1/me`.

An agent's MCP tools are built from it (one tool per action the principal holds a grant for, its description
stating this principal's limits), so it carries what a tool needs and nothing the caller could not learn from
its own requests: the action's summary and declared params, whether it can be undone, and the grant's limits
with the approval ladder that decides above them. A person's grants are those of their roles; an actor's are
its own. Pure: a function of the charter, the credential's principal and today's date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from cxgov.charter import Charter
from cxgov.charter.models import Action, Grant, ParamType, format_duration
from cxgov.identity import Principal


class Approver(BaseModel):
    """A person who may decide on a ladder step, and the largest amount they may approve (none: no money)."""

    person: str
    approve_limit: Decimal | None = None


class LadderStep(BaseModel):
    """One step of an approval ladder as it runs: a ladder role, or the role covering for it after a timeout."""

    role: str
    people: list[Approver]
    covering: str | None = None
    """Set when this step is the coverage of a ladder role that did not answer within the step timeout."""


class ApprovalTerms(BaseModel):
    """Who decides an escalated request of this action, in order, and how long each step waits."""

    steps: list[LadderStep]
    step_timeout: str
    on_timeout: Literal["deny"] = "deny"


class ReversalTerms(BaseModel):
    """Whether and how the action can be undone (an irreversible one cannot, by anyone)."""

    kind: Literal["always", "window", "until", "irreversible"]
    reversible: bool
    window: str | None = None
    until: str | None = None
    owner: str | None = None
    """The role whose members may reverse it."""
    procedure: str


class BudgetTerms(BaseModel):
    """How much of this action the principal may take in a rolling window."""

    per: str
    count: int | None = None
    amount: Decimal | None = None


class GrantTerms(BaseModel):
    """This principal's limits for one action, as its grant states them (None: no limit of that kind)."""

    grantee: str
    """`actor support-bot`, or `role tier1` for a person holding the grant through a role."""
    max_amount: Decimal | None = None
    approve_above: Decimal | None = None
    require_approval: bool = False
    channels: list[str] | None = None
    segments: list[str] | None = None
    budget: BudgetTerms | None = None


class GrantedAction(BaseModel):
    """One charter action the principal holds a grant for."""

    action: str
    summary: str
    params: dict[str, ParamType] = Field(default_factory=dict)
    """The declared params in charter order: string, money (a decimal in the charter's currency) or list."""
    amount_param: str | None = None
    """The money param the amount limits apply to."""
    excluded_skus: list[str] = Field(default_factory=list)
    preconditions: list[str] = Field(default_factory=list)
    reversal: ReversalTerms
    approval: ApprovalTerms | None = None
    grant: GrantTerms


class StandingTerms(BaseModel):
    """Whether the principal may act at all today; a blocked one is denied every request (rule 3)."""

    suspended: bool = False
    overdue_since: date | None = None
    """An actor's recertification date, once it has passed."""
    owner: str | None = None
    """An actor's owner, who recertifies it."""


class PrincipalGrants(BaseModel):
    """`GET /v1/me`: who the credential proves, and what the charter lets them do."""

    principal: str
    kind: Literal["actor", "person"]
    via: str
    """How the credential proved it: `key <key id>`, or `oidc <issuer>`."""
    actor_kind: str | None = None
    """ai_agent, automation or integration, for an actor of the charter."""
    roles: list[str] = Field(default_factory=list)
    """A person's roles, through which they hold grants."""
    charter: str
    charter_version: int
    currency: str
    standing: StandingTerms
    actions: list[GrantedAction]


def principal_grants(charter: Charter, principal: Principal, *, today: date) -> PrincipalGrants:
    """What `principal` may do under `charter`: every action a grant covers for it, with its limits.

    Grants are found as decisions find them (rule 1): the actor's own, or for a person the first grant in file
    order naming the person or one of their roles. A principal the charter does not name holds nothing.
    """
    name = principal.name
    actor = charter.actors.get(name)
    person = charter.people.get(name)
    roles = list(person.roles) if person is not None else []
    known = actor is not None or person is not None
    actions: list[GrantedAction] = []
    for action_name, action in charter.actions.items():
        grant = charter.grant_for(actor=name, roles=roles, action=action_name) if known else None
        if grant is not None:
            actions.append(_granted(charter, action_name, action, grant))
    standing = charter.standing(name, today=today)
    return PrincipalGrants(
        principal=name,
        kind=principal.kind,
        via=principal.via,
        actor_kind=actor.kind if actor is not None else None,
        roles=roles,
        charter=charter.charter,
        charter_version=charter.version,
        currency=charter.currency,
        standing=StandingTerms(
            suspended=standing.suspended,
            overdue_since=standing.overdue_since,
            owner=standing.owner,
        ),
        actions=actions,
    )


def _granted(charter: Charter, name: str, action: Action, grant: Grant) -> GrantedAction:
    reversal = action.reversal
    budget = grant.budget
    return GrantedAction(
        action=name,
        summary=action.summary,
        params=dict(action.params),
        amount_param=action.amount_param,
        excluded_skus=list(action.excluded_skus),
        preconditions=list(action.preconditions),
        reversal=ReversalTerms(
            kind=reversal.kind,
            reversible=reversal.kind != "irreversible",
            window=format_duration(reversal.window) if reversal.window is not None else None,
            until=reversal.until,
            owner=reversal.owner,
            procedure=reversal.procedure,
        ),
        approval=_approval(charter, name),
        grant=GrantTerms(
            grantee=grant.grantee,
            max_amount=grant.max_amount,
            approve_above=grant.approve_above,
            require_approval=grant.require_approval,
            channels=list(grant.channels) if grant.channels is not None else None,
            segments=list(grant.segments) if grant.segments is not None else None,
            budget=(
                BudgetTerms(per=format_duration(budget.per), count=budget.count, amount=budget.amount)
                if budget is not None
                else None
            ),
        ),
    )


def _approval(charter: Charter, name: str) -> ApprovalTerms | None:
    approval = charter.actions[name].approval
    phases = charter.ladder(name)
    if approval is None or phases is None:
        return None
    steps = [
        LadderStep(
            role=phase.role,
            people=[Approver(person=person, approve_limit=limit) for person, limit in phase.approvers],
            covering=phase.covering,
        )
        for phase in phases
    ]
    return ApprovalTerms(steps=steps, step_timeout=format_duration(approval.step_timeout), on_timeout="deny")
