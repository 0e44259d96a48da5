"""Decision semantics (deny by default), as pure functions of the charter, the request and the facts.

Rules, in order:
1. unknown actor or action, or no grant covers it: deny, gap
2. params that do not match the action's declaration: BadRequest (no decision, no effect)
3. actor recertification overdue or actor suspended: deny
4. excluded SKU; segment or channel outside the grant; amount over max_amount; budget exhausted;
   a declared precondition false: deny
5. amount over approve_above, require_approval, drill stale or failed: escalate
6. otherwise allow
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from cxgov.charter.models import Charter, Grant
from cxgov.policy.params import validate_params
from cxgov.wire import ActionRequest, Decision, Outcome, ParamValue


@dataclass(frozen=True)
class BudgetState:
    """Seam for budgets (a later issue): what the actor has used of a grant's budget in its window."""

    exhausted_reason: str | None


@dataclass(frozen=True)
class DrillState:
    """Seam for reversal drills (a later issue): why the action's undo is not currently trusted."""

    stale_reason: str | None


@dataclass(frozen=True)
class Facts:
    """What the system of record says about the request; never taken from the request itself."""

    segment: str | None
    """The customer's segment, or None when the customer is not in the system of record."""
    blockers: list[str] = field(default_factory=list)
    """Reasons from the connector's checks: ownership, amounts, declared preconditions that are false."""
    budget: BudgetState | None = None
    drill: DrillState | None = None


@dataclass(frozen=True)
class Screened:
    """A request that passed rules 1-3: its grant and its typed params."""

    grant: Grant
    params: dict[str, ParamValue]
    amount: Decimal | None


def screen(charter: Charter, request: ActionRequest, *, today: date) -> Decision | Screened:
    """Rules 1-3. Returns the deny decision, or the grant and typed params for rules 4-6.

    Raises:
        BadRequest: rule 2, params do not match the action's declaration.
    """
    grant, gap_reason = _grant_for(charter, request)
    if grant is None:
        return _decision(charter, Outcome.DENY, "1-no-grant", [gap_reason], gap=True)
    action = charter.actions[request.action]
    params = validate_params(action_name=request.action, action=action, params=dict(request.params))
    overdue = _recertification(charter, request.actor, today=today)
    if overdue is not None:
        return _decision(charter, Outcome.DENY, "3-actor-not-certified", [overdue])
    amount_param = action.amount_param
    amount = params[amount_param] if amount_param else None
    return Screened(grant=grant, params=params, amount=amount if isinstance(amount, Decimal) else None)


def decide(charter: Charter, request: ActionRequest, facts: Facts, *, today: date) -> Decision:
    """Decide one request: rules 1-6. Pure: same inputs, same decision.

    Raises:
        BadRequest: rule 2, params do not match the action's declaration.
    """
    screened = screen(charter, request, today=today)
    if isinstance(screened, Decision):
        return screened
    denials = _rule4(charter, request, facts, screened)
    if denials:
        rule, reasons = denials[0][0], [reason for _rule, reason in denials]
        return _decision(charter, Outcome.DENY, rule, reasons)
    escalations = _rule5(request, facts, screened)
    if escalations:
        if charter.actions[request.action].approval is None:
            reasons = [reason for _rule, reason in escalations]
            reasons.append(f"action {request.action} has no approval ladder, so nobody can approve it")
            return _decision(charter, Outcome.DENY, "5-no-ladder", reasons)
        return _decision(charter, Outcome.ESCALATE, escalations[0][0], [r for _rule, r in escalations])
    return _decision(charter, Outcome.ALLOW, "6-allow", [_allow_reason(request, screened)])


def digest(request: ActionRequest, *, charter_version: int) -> str:
    """sha256 over exactly what an approver approves; an approval naming another digest is refused."""
    body = {
        "action_id": request.action_id,
        "actor": request.actor,
        "action": request.action,
        "customer": request.customer,
        "channel": request.channel,
        "params": {name: _canonical(value) for name, value in sorted(request.params.items())},
        "charter_version": charter_version,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    return value


def _decision(charter: Charter, outcome: Outcome, rule: str, reasons: list[str], gap: bool = False) -> Decision:
    return Decision(outcome=outcome, rule=rule, reasons=reasons, gap=gap, charter_version=charter.version)


def _grant_for(charter: Charter, request: ActionRequest) -> tuple[Grant | None, str]:
    actor, action = request.actor, request.action
    person = charter.people.get(actor)
    if actor not in charter.actors and person is None:
        return None, f"unknown actor {actor!r}: not an actor or a person in charter {charter.charter}"
    if action not in charter.actions:
        return None, f"unknown action {action!r}: charter {charter.charter} declares no such action"
    roles = person.roles if person is not None else []
    grant = charter.grant_for(actor=actor, roles=roles, action=action)
    if grant is not None:
        return grant, ""
    via = f" or its roles ({', '.join(roles)})" if roles else ""
    return None, f"no grant in charter v{charter.version} lets {actor}{via} take action {action}"


def _recertification(charter: Charter, actor: str, *, today: date) -> str | None:
    standing = charter.standing(actor, today=today)
    kind = "actor" if actor in charter.actors else "person"
    if standing.suspended:
        return f"{kind} {actor} is suspended"
    if standing.overdue_since is not None:
        return (
            f"actor {actor} was due for recertification on {standing.overdue_since.isoformat()} "
            f"(owner {standing.owner}); it acts again once recertified"
        )
    return None


def _rule4(charter: Charter, request: ActionRequest, facts: Facts, s: Screened) -> list[tuple[str, str]]:
    action = charter.actions[request.action]
    grant = s.grant
    found: list[tuple[str, str]] = []
    sku = s.params.get("sku")
    if isinstance(sku, str):
        for pattern in action.excluded_skus:
            if fnmatch.fnmatchcase(sku, pattern):
                found.append(
                    (
                        "4-excluded-sku",
                        f"SKU {sku} matches excluded {pattern!r}: nobody may {request.action} it",
                    )
                )
    if facts.segment is None:
        found.append(("4-unknown-customer", f"customer {request.customer} is not in the system of record"))
    elif grant.segments is not None and facts.segment not in grant.segments:
        found.append(
            (
                "4-segment",
                f"customer {request.customer} is in segment {facts.segment!r}; the grant to {grant.grantee} "
                f"covers {', '.join(grant.segments)}",
            )
        )
    if grant.channels is not None and request.channel not in grant.channels:
        found.append(
            (
                "4-channel",
                f"channel {request.channel!r} is outside the grant to {grant.grantee} ({', '.join(grant.channels)})",
            )
        )
    if s.amount is not None and grant.max_amount is not None and s.amount > grant.max_amount:
        found.append(
            (
                "4-max-amount",
                f"amount {s.amount} {charter.currency} is over the grant's max_amount {grant.max_amount}",
            )
        )
    if facts.budget is not None and facts.budget.exhausted_reason is not None:
        found.append(("4-budget", facts.budget.exhausted_reason))
    found.extend(("4-precondition", blocker) for blocker in facts.blockers)
    return found


def _rule5(request: ActionRequest, facts: Facts, s: Screened) -> list[tuple[str, str]]:
    grant = s.grant
    found: list[tuple[str, str]] = []
    if s.amount is not None and grant.approve_above is not None and s.amount > grant.approve_above:
        found.append(
            (
                "5-approve-above",
                f"amount {s.amount} is over approve_above {grant.approve_above} for {grant.grantee}: "
                "a person on the approval ladder decides",
            )
        )
    if grant.require_approval:
        found.append(("5-require-approval", f"the grant to {grant.grantee} requires approval of every request"))
    if facts.drill is not None and facts.drill.stale_reason is not None:
        found.append(("5-drill", facts.drill.stale_reason))
    return found


def _allow_reason(request: ActionRequest, s: Screened) -> str:
    limits = []
    if s.amount is not None and s.grant.approve_above is not None:
        limits.append(f"amount {s.amount} within approve_above {s.grant.approve_above}")
    elif s.amount is not None and s.grant.max_amount is not None:
        limits.append(f"amount {s.amount} within max_amount {s.grant.max_amount}")
    detail = f" ({'; '.join(limits)})" if limits else ""
    return f"granted to {s.grant.grantee} for {request.action}{detail}"
