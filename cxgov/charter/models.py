"""The charter as pydantic models: the single written source of scope.

The reference format is ../shared/examples/charter.yaml. Unknown keys are rejected, because a misspelt
limit (`max_amout`) silently read as "no limit" would widen scope without anyone noticing.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_DURATION = timedelta(days=36500)
"""The longest duration a charter (or a command line) may write: 100 years. Longer ones cannot be added to a date."""


def parse_duration(value: object) -> timedelta:
    """Parse "30s", "15m", "4h", "1d", "90d" into a timedelta; anything else is an error naming the value."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{_shown(value)} is not a duration; write it like 30s, 15m, 4h or 90d")
    digits, unit = match.group(1), match.group(2)
    if len(digits.lstrip("0")) > 12 or int(digits) * _UNITS[unit] > MAX_DURATION.total_seconds():
        raise ValueError(f"{_shown(value)} is longer than {MAX_DURATION.days}d (100 years)")
    seconds = int(digits) * _UNITS[unit]
    if seconds <= 0:
        raise ValueError(f"{_shown(value)} must be longer than zero")
    return timedelta(seconds=seconds)


def _shown(value: object) -> str:
    """`value` as an error shows it: its repr, cut after 40 characters."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 128 else "a very large number"
    return text if len(text) <= 42 else f"{text[:40]}...{text[-1]}"


def format_duration(value: timedelta) -> str:
    """A duration as the charter writes it: `30d`, `4h`, `15m`, `45s`."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def _money(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be an amount of money, not true/false")
    if isinstance(value, float):
        return Decimal(str(value))
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Money = Annotated[Decimal, BeforeValidator(_money), Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Drills(_Strict):
    every: Duration
    """Default cadence of each action's reversal drill."""
    max_age: Duration
    """A reversible action whose undo has not passed a drill within this loses autonomy."""


class Signoff(_Strict):
    function: Name
    by: Name
    on: date


class Person(_Strict):
    roles: list[Name] = Field(default_factory=list)
    approve_limit: Money | None = None
    """Largest amount this person may approve; without it they may approve no amount of money."""
    suspended: bool = False


class Role(_Strict):
    coverage: Name | None = None
    """The role asked next when nobody in this role answers in time."""


class Actor(_Strict):
    kind: Literal["ai_agent", "automation", "integration"]
    owner: Name
    recertify_by: date
    suspended: bool = False


ParamType = Literal["string", "money", "list"]


class Reversal(_Strict):
    kind: Literal["always", "window", "until", "irreversible"]
    window: Duration | None = None
    until: Name | None = None
    """The system-of-record event that ends the reversal; the bound system must be able to tell it."""
    procedure: str = Field(min_length=1)
    owner: Name | None = None
    """The role whose members may execute the reversal."""

    @model_validator(mode="after")
    def _kind_fields(self) -> Reversal:
        if self.kind == "window" and self.window is None:
            raise ValueError("kind 'window' needs a `window` duration")
        if self.kind == "until" and self.until is None:
            raise ValueError("kind 'until' needs an `until` event")
        if self.kind != "window" and self.window is not None:
            raise ValueError(f"`window` only applies to kind 'window', not {self.kind!r}")
        if self.kind != "until" and self.until is not None:
            raise ValueError(f"`until` only applies to kind 'until', not {self.kind!r}")
        return self


class Approval(_Strict):
    ladder: list[Name] = Field(min_length=1)
    step_timeout: Duration
    on_timeout: Literal["deny"] = "deny"
    """What happens after the last ladder step times out. Only `deny`: silence never approves."""


class Action(_Strict):
    summary: str = ""
    params: dict[Name, ParamType] = Field(default_factory=dict)
    excluded_skus: list[Name] = Field(default_factory=list)
    preconditions: list[Name] = Field(default_factory=list)
    """Checked against the system of record before deciding and again at execute; the bound system must be able
    to check each (a worker does not start otherwise)."""
    reversal: Reversal
    approval: Approval | None = None
    drill_every: Duration | None = None
    """Per-action drill cadence, overriding drills.every."""

    @model_validator(mode="after")
    def _one_money_param(self) -> Action:
        money = [name for name, kind in self.params.items() if kind == "money"]
        if len(money) > 1:
            raise ValueError(f"at most one money param per action, found {', '.join(money)}")
        return self

    @property
    def amount_param(self) -> str | None:
        """The name of the action's money param, the amount limits apply to."""
        return next((name for name, kind in self.params.items() if kind == "money"), None)

    def excludes(self, sku: str) -> str | None:
        """The `excluded_skus` glob `sku` matches, or None."""
        return next((pattern for pattern in self.excluded_skus if fnmatch.fnmatchcase(sku, pattern)), None)


class Budget(_Strict):
    per: Duration
    count: int | None = Field(default=None, ge=0)
    amount: Money | None = None


class Grant(_Strict):
    actor: Name | None = None
    role: Name | None = None
    action: Name
    max_amount: Money | None = None
    approve_above: Money | None = None
    segments: list[Name] | None = None
    channels: list[Name] | None = None
    budget: Budget | None = None
    require_approval: bool = False

    @model_validator(mode="after")
    def _grantee(self) -> Grant:
        if (self.actor is None) == (self.role is None):
            raise ValueError("a grant names exactly one of `actor` or `role`")
        return self

    @field_validator("approve_above")
    @classmethod
    def _below_max(cls, approve_above: Decimal | None, info: ValidationInfo) -> Decimal | None:
        max_amount = info.data.get("max_amount")
        if approve_above is not None and max_amount is not None and approve_above > max_amount:
            raise ValueError(f"approve_above {approve_above} is above max_amount {max_amount}")
        return approve_above

    @property
    def grantee(self) -> str:
        return f"actor {self.actor}" if self.actor is not None else f"role {self.role}"


@dataclass(frozen=True)
class LadderPhase:
    """One phase of an approval ladder as it runs: a ladder role, or that role's coverage."""

    role: str
    approvers: tuple[tuple[str, Decimal | None], ...]
    """Who of the role may decide (suspended people left out), each with their approve_limit."""
    covering: str | None = None
    """Set on a coverage phase: the ladder role it stands in for."""


@dataclass(frozen=True)
class Standing:
    """Whether an actor or person may act at all today (rule 3)."""

    suspended: bool = False
    overdue_since: date | None = None
    """An actor's recertification date, once it has passed."""
    owner: str | None = None
    """An actor's owner, who recertifies it."""

    @property
    def blocked(self) -> bool:
        return self.suspended or self.overdue_since is not None


class Charter(_Strict):
    charter: Name
    version: int = Field(ge=1, le=2**31 - 1)
    currency: str = Field(min_length=3, max_length=3)
    retention_days: int = Field(gt=0, le=MAX_DURATION.days)
    drills: Drills
    required_signoffs: list[Name] = Field(default_factory=list)
    signoffs: list[Signoff] = Field(default_factory=list)
    people: dict[Name, Person] = Field(default_factory=dict)
    roles: dict[Name, Role] = Field(default_factory=dict)
    actors: dict[Name, Actor] = Field(default_factory=dict)
    actions: dict[Name, Action] = Field(default_factory=dict)
    grants: list[Grant] = Field(default_factory=list)
    freeze_roles: list[Name] = Field(default_factory=list)
    """Roles whose people may freeze and unfreeze (the kill switch); none: nobody can."""
    override_roles: list[Name] = Field(default_factory=list)
    """Roles whose people may override one denied request (break-glass); none: nobody can override."""
    hold_roles: list[Name] = Field(default_factory=list)
    """Roles whose people may release a legal hold on audit records; none: a hold, once placed, stays."""

    def holders(self, roles: list[str]) -> list[str]:
        """Active (not suspended) people holding any of `roles`, in charter order."""
        wanted = set(roles)
        return [
            name for name, person in self.people.items() if not person.suspended and wanted.intersection(person.roles)
        ]

    def members(self, role: str) -> list[str]:
        """People holding `role`, in charter order."""
        return self._members.get(role, [])

    def active_members(self, role: str) -> list[str]:
        """People holding `role` who are not suspended, in charter order."""
        return [name for name in self.members(role) if not self.people[name].suspended]

    def coverage(self, role: str) -> str | None:
        """The role asked next when nobody in `role` answers in time."""
        found = self.roles.get(role)
        return found.coverage if found is not None else None

    def ladder(self, action: str) -> list[LadderPhase] | None:
        """The action's approval ladder as it runs: each ladder role, then its coverage; None without a ladder."""
        approval = self.actions[action].approval
        if approval is None:
            return None
        phases: list[LadderPhase] = []
        for role in approval.ladder:
            phases.append(LadderPhase(role=role, approvers=self._approvers(role)))
            coverage = self.coverage(role)
            if coverage:
                phases.append(LadderPhase(role=coverage, approvers=self._approvers(coverage), covering=role))
        return phases

    def standing(self, name: str, *, today: date) -> Standing:
        """Whether actor or person `name` may act today: suspended, or past its recertification date."""
        actor = self.actors.get(name)
        if actor is not None:
            overdue = actor.recertify_by if actor.recertify_by < today else None
            return Standing(suspended=actor.suspended, overdue_since=overdue, owner=actor.owner)
        person = self.people.get(name)
        return Standing(suspended=person is not None and person.suspended)

    def _approvers(self, role: str) -> tuple[tuple[str, Decimal | None], ...]:
        return tuple((name, self.people[name].approve_limit) for name in self.active_members(role))

    def grant_for(self, *, actor: str, roles: list[str], action: str) -> Grant | None:
        """The first grant in file order covering `action` for `actor` or one of its `roles`."""
        index = self._grant_index
        found = index.get(("actor", actor, action))
        for role in roles:
            by_role = index.get(("role", role, action))
            if by_role is not None and (found is None or by_role[0] < found[0]):
                found = by_role
        return found[1] if found is not None else None

    @cached_property
    def _grant_index(self) -> dict[tuple[str, str, str], tuple[int, Grant]]:
        index: dict[tuple[str, str, str], tuple[int, Grant]] = {}
        for position, grant in enumerate(self.grants):
            key = (
                ("actor", grant.actor, grant.action)
                if grant.actor is not None
                else ("role", grant.role or "", grant.action)
            )
            index.setdefault(key, (position, grant))
        return index

    @cached_property
    def _members(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name, person in self.people.items():
            for role in person.roles:
                index.setdefault(role, []).append(name)
        return index

    def drilled_actions(self) -> dict[str, timedelta]:
        """Every reversible action and its drill cadence (drills.every, or the action's drill_every)."""
        return {
            name: self.drill_every(name)
            for name, action in self.actions.items()
            if action.reversal.kind != "irreversible"
        }

    def drill_every(self, action: str) -> timedelta:
        override = self.actions[action].drill_every
        return override if override is not None else self.drills.every
