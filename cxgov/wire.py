"""Pydantic models that cross the Temporal wire. No side effects: workflows import this module.

One input and one result model per workflow, update, query and activity. Add fields, never positional args.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

ParamValue = str | Decimal | list[str]
"""A validated action parameter: `string` -> str, `money` -> Decimal, `list` -> list[str]."""


class Outcome(StrEnum):
    """What the charter says about a request."""

    ALLOW = "allow"
    ESCALATE = "escalate"
    DENY = "deny"


class Status(StrEnum):
    """Where an action stands. The first two are transient; the rest are settled."""

    AUTHORIZING = "authorizing"
    EXECUTING = "executing"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    DENIED = "denied"
    EXPIRED = "expired"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"
    REVERSED = "reversed"
    REVERSAL_FAILED = "reversal_failed"
    FAILED = "failed"


SETTLED = frozenset(Status) - {Status.AUTHORIZING, Status.EXECUTING}
"""Statuses at which `cxgov act` stops waiting."""


class Decision(BaseModel):
    """The charter's answer for one request, with the rule that decided it."""

    outcome: Outcome
    rule: str
    """Which decision rule decided: e.g. `1-no-grant`, `4-excluded-sku`, `5-approve-above`, `6-allow`."""
    reasons: list[str]
    """Human-readable reasons, each naming the charter entry or fact that decided."""
    gap: bool = False
    """True only when no rule of the charter covers the request."""
    charter_version: int | None = None
    charter_sha256: str | None = None
    """The sha256 of the exact charter file that decided (None in histories from before it was recorded)."""


class Assertion(BaseModel):
    """A cxgov server's signature: the principal its credential proved asked for exactly this."""

    key_id: str
    principal: str
    signed_at: datetime
    signature: str
    """base64 Ed25519 signature over the canonical request (see `cxgov.identity.signing`)."""


class OverrideGrant(BaseModel):
    """A person's break-glass for one denied action, carried by the request that re-runs it."""

    of_action: str
    """The denied action this request re-runs."""
    person: str
    reason: str
    assertion: Assertion | None = None
    """The front door's signature that `person` (proven by a credential) granted this override."""


class ActionRequest(BaseModel):
    """An actor asks to take one action on behalf of one customer."""

    action_id: str
    actor: str
    action: str
    customer: str
    channel: str
    reason: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    assertion: Assertion | None = None
    """The front door's signature; a request without a valid one is denied (rule 0-unauthenticated)."""
    override: OverrideGrant | None = None
    """Break-glass: a person in the charter's override roles lets this request proceed past a denial (set only
    by the front door's `override`, on a copy of the denied request; see cxgov.overrides)."""


class FreezeOrder(BaseModel):
    """The kill switch reaching an action that waits on an approval in the frozen scope."""

    person: str
    reason: str
    scope: str
    """`actor:<name>`, `action:<name>` or `all`."""
    assertion: Assertion | None = None
    """The front door's signature that `person` (proven by a credential) set this freeze."""


class FreezeResult(BaseModel):
    applied: bool
    refusal: str | None = None
    status: Status


class Approver(BaseModel):
    """A person who may decide at a ladder phase, with the largest amount they may approve."""

    person: str
    approve_limit: Decimal | None = None


class ApprovalPhase(BaseModel):
    """One phase of an approval ladder: a ladder step's role, or that role's coverage."""

    role: str
    people: list[Approver]
    coverage_for: str | None = None
    """Set when this phase is the coverage of a ladder role that did not answer in time."""


class ApprovalPlan(BaseModel):
    """The approval ladder of an escalated action, resolved against the charter's people at authorize time."""

    phases: list[ApprovalPhase]
    step_timeout_seconds: float
    on_timeout: Literal["deny"] = "deny"
    amount: Decimal | None = None


class AuthorizeInput(BaseModel):
    request: ActionRequest


class AuthorizeResult(BaseModel):
    decision: Decision
    digest: str
    """sha256 over what is being approved: action id, actor, action, customer, channel, params, charter version."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """The request's params as the charter types them (money as Decimal, lists as lists)."""
    amount: Decimal | None = None
    """The value of the action's money param, if it has one."""
    currency: str | None = None
    """The charter's currency, for the action's one-line summary."""
    requester_owner: str | None = None
    """Who answers for the requester: an actor's owner, or the requesting person; told when the action expires."""
    approval: ApprovalPlan | None = None
    reversal_owner: str | None = None
    reversal_owner_people: list[str] = Field(default_factory=list)
    step_timeout_seconds: float = 10.0
    """Start-to-close timeout of connector steps, from the worker's settings: how soon a crashed step is retried."""
    compensation_attempts: int = 3
    """How many times the saga tries the compensation, from the worker's settings (3 for runs decided before it)."""
    actor_kind: str | None = None
    """ai_agent, automation, integration, or person."""
    snapshot: dict[str, Any] | None = None
    """For an allowed action: the connector's snapshot, read with the facts, just before execute."""
    preconditions: list[str] = Field(default_factory=list)
    """The action's declared preconditions, checked again at execute."""
    seal: str | None = None
    """The worker's seal over the allowed call (see `ConnectorCall.seal`)."""
    trusted_keys: dict[str, str] = Field(default_factory=dict)
    """The public keys the worker trusts, fixed in the history: approvals are verified against them."""
    budget_reserved: bool = False
    """A share of the grant's budget was reserved; released if the action ends without its effect."""


class ApprovalInput(BaseModel):
    """An approve or deny attempt by a named person."""

    person: str
    reason: str
    digest: str
    assertion: Assertion | None = None
    """The front door's signature that `person` (proven by a credential) made this attempt."""


class ApprovalRecord(BaseModel):
    """One approval attempt as it happened, granted or refused."""

    verdict: Literal["approve", "deny"]
    person: str
    reason: str
    at: datetime
    accepted: bool
    refusal: str | None = None
    role: str | None = None
    phase: int | None = None


class ApprovalResult(BaseModel):
    accepted: bool
    refusal: str | None = None
    status: Status
    """The action's status as this attempt leaves it: executing after an accepted approve, denied after an
    accepted deny, unchanged after a refusal."""
    record: ApprovalRecord


class PendingApproval(BaseModel):
    """What an action is waiting for: which ladder phase, who may decide, until when."""

    action_id: str
    actor: str
    action: str
    customer: str
    amount: Decimal | None
    digest: str
    phase: int
    phases: int
    role: str
    coverage_for: str | None
    eligible: list[str]
    deadline: datetime
    reason: str


class ConnectorCall(BaseModel):
    """A connector step for one action; `action_id` is the idempotency key."""

    action_id: str
    action: str
    customer: str
    params: dict[str, ParamValue]
    preconditions: list[str] = Field(default_factory=list)
    """The charter's declared preconditions of the action: execute checks them again, with the effect."""
    effect: dict[str, Any] | None = None
    """What execute recorded (`EffectResult.record`), for the steps after it; None before execute."""
    attempt: int = 1
    """Which attempt of the step this is (set by the activity): after the first, the effect may have landed."""
    seal: str | None = None
    """The worker's seal on what authorize allowed: effect activities act on nothing else."""


class EffectResult(BaseModel):
    applied: bool
    """False when the effect was already in place for this action id (an idempotent retry)."""
    summary: str
    record: dict[str, Any] = Field(default_factory=dict)
    """What later steps find the effect by (an id the system assigned); JSON-able."""


class VerifyResult(BaseModel):
    ok: bool
    summary: str


class CompensateResult(BaseModel):
    undone: bool
    """True when an effect of this action existed and is undone now (by this call, or by an earlier attempt whose
    answer was lost); False when there was nothing to undo."""
    summary: str


class StepRecord(BaseModel):
    """A connector step as it happened in the workflow."""

    step: Literal["execute", "verify", "compensate", "snapshot", "verify_restored"]
    ok: bool
    summary: str
    at: datetime


class ActionState(BaseModel):
    """The action as it stands; the result of the action workflow and of its `state` query."""

    action_id: str
    status: Status
    request: ActionRequest
    decision: Decision | None = None
    charter_version: int | None = None
    digest: str | None = None
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    pending: PendingApproval | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    error: str | None = None
    escalated_to: list[str] = Field(default_factory=list)
    """People of the reversal owner role alerted when compensation failed."""
    reversal: str | None = None
    """Workflow id of the reversal of this action, once one ran."""
    snapshot: dict[str, Any] | None = None
    """The connector's view of what the action touches, taken just before execute: the pre-action state."""
    effect: dict[str, Any] | None = None
    """What execute recorded of the effect (`EffectResult.record`): how a reversal finds it."""
    settled_at: datetime | None = None
    """When the action reached its final status (for `window` reversals: when the window starts)."""
    actor_kind: str | None = None
    """ai_agent, automation, integration, or person: from the charter at authorize time."""


class ReversalRequest(BaseModel):
    """A named person asks to undo a completed action."""

    action_id: str
    person: str
    reason: str
    assertion: Assertion | None = None
    """The front door's signature that `person` (proven by a credential) asked for this reversal."""


class LoadedAction(BaseModel):
    """The action a reversal is about, read from its workflow; `problem` when it cannot be reversed at all."""

    state: ActionState | None = None
    problem: str | None = None


class ReversalCheckInput(BaseModel):
    request: ReversalRequest
    action: ActionState


class ReversalPlan(BaseModel):
    """The charter's and the system of record's answer to a reversal request."""

    refusal: str | None = None
    procedure: str | None = None
    owner_role: str | None = None
    escalate_to: list[str] = Field(default_factory=list)
    """Who hears of a failed reversal: the owner role's coverage (or the owner role when it has none)."""
    call: ConnectorCall | None = None
    expected: dict[str, Any] | None = None
    """The connector's snapshot as it must read once the action is undone (see `Connector.expected_after_undo`);
    None in plans recorded before it existed, whose reversals compare with the pre-action snapshot."""
    charter_version: int | None = None
    step_timeout_seconds: float = 10.0
    trusted_keys: dict[str, str] = Field(default_factory=dict)
    """The public keys the worker trusts, fixed in the history: the request's signature is verified against them."""


class ReversalState(BaseModel):
    """A reversal as it stands; the result of the reversal workflow."""

    reversal_id: str
    request: ReversalRequest
    status: Status = Status.EXECUTING
    actor: str | None = None
    action: str | None = None
    customer: str | None = None
    refusal: str | None = None
    procedure: str | None = None
    owner_role: str | None = None
    charter_version: int | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    escalated_to: list[str] = Field(default_factory=list)
    error: str | None = None
    settled_at: datetime | None = None


class ArchiveInput(BaseModel):
    """One pass of the audit archiver."""

    full: bool = False
    """Scan every closed workflow in visibility, not only those closed since the archive's newest run."""


class UnarchivedRun(BaseModel):
    """A closed run the archiver could not archive."""

    run_id: str
    workflow_id: str
    error: str


class ArchiveResult(BaseModel):
    archived: int
    already: int
    failed: list[str] = Field(default_factory=list)
    """Run ids that could not be archived this pass (they are retried next pass)."""
    lag_seconds: float = 0.0
    """Age of the oldest closed workflow still not archived after this pass (0 when none)."""
    first_failures: list[UnarchivedRun] = Field(default_factory=list)
    """Runs that failed to archive for the first time in this pass: the archiver tells people about each."""
    tell_roles: list[str] = Field(default_factory=list)
    """Who hears about them: the charter's hold and freeze roles..."""
    tell_people: list[str] = Field(default_factory=list)
    """...and the people who signed the charter off."""


class RetentionInput(BaseModel):
    """One pass of the retention purge."""


class RetentionResult(BaseModel):
    purged: int
    retention_days: int
    receipt_seq: int | None = None


class DrillInput(BaseModel):
    """Run the reversal drill of one action."""

    action: str


class DrillWatchInput(BaseModel):
    """The `drills-watch` schedule's input: nothing yet (a model, so fields can be added without breaking runs)."""


class DrillPlan(BaseModel):
    """A fresh drill fixture: where it lives, the call to drill, and the world before the action."""

    workspace: str
    """The drill's own sandbox file (never the live system of record); deleted when the drill is recorded."""
    call: ConnectorCall | None = None
    before: dict[str, Any] = Field(default_factory=dict)
    charter_version: int | None = None
    problem: str | None = None
    """Why this action cannot be drilled (irreversible, unknown, no fixture); the drill fails with it."""
    step_timeout_seconds: float = 10.0
    owner_role: str | None = None
    """The action's reversal owner role: told when the drill fails."""


class DrillStepInput(BaseModel):
    workspace: str
    call: ConnectorCall
    step: Literal["execute", "verify", "compensate", "snapshot"]


class DrillStepResult(BaseModel):
    ok: bool
    summary: str
    world: dict[str, Any] | None = None
    """For the snapshot step: the connector's snapshot of what the drill's call touches."""
    record: dict[str, Any] | None = None
    """For the execute step: what the effect recorded, for the steps after it."""


class DrillResult(BaseModel):
    """One reversal drill, as recorded in the drill ledger and the audit trail."""

    drill_id: str
    action: str
    charter_version: int | None
    started: datetime
    finished: datetime
    passed: bool
    failing_step: str | None = None
    reason: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    workspace: str | None = None
