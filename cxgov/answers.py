"""The answers to the three governance questions, as plain models (`cxgov questions --json` prints them)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Signature(_Answer):
    """Who signed off the charter version, for which function, when."""

    function: str
    by: str
    on: date


class Approver(_Answer):
    person: str
    approve_limit: Decimal | None
    """The largest amount this person may approve; None: no amount of money."""


class LadderStep(_Answer):
    role: str
    people: list[Approver]
    covering: str | None = None
    """The ladder role this step covers for, when it is that role's coverage."""


class Ladder(_Answer):
    """Who decides when a request needs a human, in order, and what silence means."""

    steps: list[LadderStep]
    step_timeout: str
    on_timeout: str


class Budget(_Answer):
    per: str
    count: int | None
    amount: Decimal | None
    enforced: bool


class Scope(_Answer):
    """Was it allowed: the grant's limits, the action's exclusions, the actor's standing."""

    grant: str
    """Which grant applies: `actor <name>` or `role <name>` (the first in file order)."""
    denied: str | None
    """Why every request is denied whatever the grant says (recertification overdue, suspended)."""
    currency: str
    amount_param: str | None
    max_amount: Decimal | None
    approve_above: Decimal | None
    require_approval: bool
    segments: list[str] | None
    """None: any segment."""
    channels: list[str] | None
    """None: any channel."""
    budget: Budget | None
    excluded_skus: list[str]
    preconditions: dict[str, str]
    """Declared precondition -> what it checks in the system of record."""
    ladder: Ladder | None
    """The action's approval ladder; None: nothing can be approved, so what needs approval is denied."""


class Drill(_Answer):
    """The action's reversal drill: cadence, last run and result, last pass, and whether the undo is trusted."""

    every: str
    schedule: str
    last_run: datetime | None
    last_result: str | None
    """`passed`, or `failed at <step>`; None when never drilled."""
    last_failure: str | None
    last_pass: datetime | None
    overdue: bool
    overdue_because: str | None
    """In short: never drilled, the last drill failed, or the last pass is older than drills.max_age."""
    stale_reason: str | None
    while_overdue: str | None
    """What an overdue drill does to requests: they escalate, or are denied when there is no ladder."""
    signoff: str = "not signed by a named human"
    """`tested DATE, signed by NAME` (the newest signature that meets the 90-day bar), or `not signed by a named
    human`."""
    signed_by: str | None = None
    """Who signed: a member of the reversal owner role, of a drill that passed within the last 90 days."""
    signed_at: datetime | None = None
    signed_drill: str | None = None
    """The drill id that was signed."""
    signed_drill_finished: datetime | None = None
    """When the signed drill finished (the DATE of `tested DATE`)."""


class Reversibility(_Answer):
    kind: str
    window: str | None
    until: str | None
    until_meaning: str | None
    procedure: str
    owner: str | None
    owner_people: list[str]
    """Members of the owner role who may reverse it now (not suspended)."""
    drill: Drill | None
    """None for irreversible actions: there is nothing to drill."""


class Auditability(_Answer):
    trail: str
    namespace: str
    temporal_address: str
    ui: str
    ui_search: str
    archive: str
    """The archive's URL, without its password."""
    retention_days: int
    pull: str
    """The command that pulls this actor's records of this action."""
    records: int | None
    """Archived records of this actor and action (requests, refused attempts, reversals); None: no archive yet."""
    requests: int | None
    """Of those, the actor's own requests (`action` records)."""


class ActionAnswer(_Answer):
    action: str
    summary: str
    scope: Scope
    reversibility: Reversibility
    auditability: Auditability


class ActorAnswer(_Answer):
    actor: str
    kind: str
    """ai_agent | automation | integration | person."""
    owner: str | None
    roles: list[str]
    recertify_by: date | None
    denied: str | None
    actions: list[ActionAnswer]
    """Empty: the actor may take no action (deny by default)."""


class GovernanceAnswers(_Answer):
    charter: str
    version: int
    signoffs: list[Signature]
    currency: str
    retention_days: int
    drill_max_age: str
    archive: str
    archive_note: str | None
    """Why there are no counts (no archive yet); None when counted."""
    actors: list[ActorAnswer]
