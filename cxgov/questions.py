"""The three governance questions, answered for every action every actor may take.

Scope (was it allowed, and who signed that off), Reversibility (can it be undone, by whom, when did the
undo last pass a drill, and which named human signed that drill), Auditability (where the attributed record is,
how to pull it, how long it is kept). Every answer is read from the charter, the drill ledger, the drill
signatures and the audit archive; nothing is guessed, and Temporal need not be reachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cxgov.answers import (
    ActionAnswer,
    ActorAnswer,
    Approver,
    Auditability,
    Budget,
    Drill,
    GovernanceAnswers,
    Ladder,
    LadderStep,
    Reversibility,
    Scope,
    Signature,
)
from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter, Grant
from cxgov.charter.models import format_duration
from cxgov.drills import drill_schedule_id
from cxgov.drills.ledger import ActionDrills, DrillLedger, stale_reason
from cxgov.drills.signatures import DrillSignaturePublic, DrillSignatures, signoff_text
from cxgov.errors import BadRequest
from cxgov.killswitch import Freeze
from cxgov.settings import Settings, shown_url

PRECONDITION_MEANING = "checked in the system of record when deciding, and again with the effect"
"""What a declared precondition means here; what exactly it reads is the bound system's (`cxgov.connectors`)."""

BUDGETS_ENFORCED = True
"""Decisions enforce grant budgets (rule 4, reserved in the budget ledger by the worker's authorize step).
Kept as a flag so the answer never reads as a limit the system would not enforce."""


@dataclass(frozen=True)
class Trail:
    """Where the trail lives, from the settings."""

    namespace: str
    temporal_address: str
    ui: str
    archive_url: str

    @classmethod
    def of(cls, settings: Settings) -> Trail:
        return cls(
            namespace=settings.namespace,
            temporal_address=settings.temporal_address,
            ui=settings.ui_address,
            archive_url=settings.audit_url,
        )


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases)."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def actor_names(charter: Charter) -> list[str]:
    """Everyone who can act: the non-human actors, then the people (who act under their roles' grants)."""
    return list(charter.actors) + [name for name in charter.people if name not in charter.actors]


def grants_of(charter: Charter, actor: str) -> list[tuple[str, Grant]]:
    """Every action `actor` may take, with the grant that applies (the first in file order), in charter order."""
    person = charter.people.get(actor)
    roles = person.roles if person is not None else []
    found = []
    for action in charter.actions:
        grant = charter.grant_for(actor=actor, roles=roles, action=action)
        if grant is not None:
            found.append((action, grant))
    return found


def actor_denial(charter: Charter, actor: str, *, today: date) -> str | None:
    """Why every request of `actor` is denied (rule 3), or None."""
    standing = charter.standing(actor, today=today)
    owner = f" (owner {standing.owner})" if standing.owner else ""
    if standing.suspended:
        return f"suspended{owner}"
    if standing.overdue_since is not None:
        return f"recertification overdue since {standing.overdue_since.isoformat()}{owner}"
    return None


def ladder_of(charter: Charter, action: str) -> Ladder | None:
    """The action's approval ladder as it runs: each role, then that role's coverage, with who may decide."""
    approval = charter.actions[action].approval
    if approval is None:
        return None
    steps = [
        LadderStep(
            role=phase.role,
            people=[Approver(person=name, approve_limit=limit) for name, limit in phase.approvers],
            covering=phase.covering,
        )
        for phase in charter.ladder(action) or []
    ]
    return Ladder(steps=steps, step_timeout=format_duration(approval.step_timeout), on_timeout=approval.on_timeout)


def drill_answer(
    charter: Charter, action: str, drills: ActionDrills, *, now: datetime, signed: DrillSignaturePublic | None = None
) -> Drill:
    """The drill answer of one reversible action, from its ledger record and the signature that meets the bar
    (`cxgov.drills.signatures.counted`; None: not signed by a named human)."""
    latest, last_pass = drills.latest, drills.last_pass
    stale = stale_reason(drills, max_age=charter.drills.max_age, now=now)
    because = while_overdue = None
    if stale is not None:
        if latest is None:
            because = "never drilled"
        elif not latest.passed:
            because = f"the last drill failed at {latest.failing_step}"
        else:
            because = f"last passed longer ago than drills.max_age ({format_duration(charter.drills.max_age)})"
        while_overdue = (
            "every request needs a person's approval until a drill passes"
            if charter.actions[action].approval is not None
            else "every request is denied until a drill passes (no approval ladder)"
        )
    return Drill(
        every=format_duration(charter.drill_every(action)),
        schedule=drill_schedule_id(action),
        last_run=latest.finished if latest is not None else None,
        last_result=None if latest is None else ("passed" if latest.passed else f"failed at {latest.failing_step}"),
        last_failure=latest.reason if latest is not None and not latest.passed else None,
        last_pass=last_pass.finished if last_pass is not None else None,
        overdue=stale is not None,
        overdue_because=because,
        stale_reason=stale,
        while_overdue=while_overdue,
        signoff=signoff_text(signed),
        signed_by=signed.person if signed is not None else None,
        signed_at=signed.signed_at if signed is not None else None,
        signed_drill=signed.drill_id if signed is not None else None,
        signed_drill_finished=signed.drill_finished if signed is not None else None,
    )


def _frozen(freezes: Sequence[Freeze], actor: str, action: str) -> str | None:
    found = next((f for f in freezes if f.scope.covers(actor=actor, action=action)), None)
    return found.sentence() if found is not None else None


def _scope(charter: Charter, action: str, grant: Grant, *, denied: str | None) -> Scope:
    definition = charter.actions[action]
    budget = grant.budget
    return Scope(
        grant=grant.grantee,
        denied=denied,
        currency=charter.currency,
        amount_param=definition.amount_param,
        max_amount=grant.max_amount,
        approve_above=grant.approve_above,
        require_approval=grant.require_approval,
        segments=grant.segments,
        channels=grant.channels,
        budget=None
        if budget is None
        else Budget(
            per=format_duration(budget.per), count=budget.count, amount=budget.amount, enforced=BUDGETS_ENFORCED
        ),
        excluded_skus=list(definition.excluded_skus),
        preconditions={name: PRECONDITION_MEANING for name in definition.preconditions},
        ladder=ladder_of(charter, action),
    )


def _reversibility(charter: Charter, action: str, drill: Drill | None) -> Reversibility:
    reversal = charter.actions[action].reversal
    owner = reversal.owner
    return Reversibility(
        kind=reversal.kind,
        window=format_duration(reversal.window) if reversal.window is not None else None,
        until=reversal.until,
        until_meaning="as the system of record reports it" if reversal.until else None,
        procedure=reversal.procedure,
        owner=owner,
        owner_people=charter.active_members(owner) if owner else [],
        drill=drill,
    )


def _auditability(
    charter: Charter, actor: str, action: str, trail: Trail, counts: tuple[int, int] | None
) -> Auditability:
    return Auditability(
        trail="Temporal workflow history of each action (one workflow per action, id action-<uuid>)",
        namespace=trail.namespace,
        temporal_address=trail.temporal_address,
        ui=trail.ui,
        ui_search=f'CxActor = "{actor}" AND CxAction = "{action}"',
        archive=shown_url(trail.archive_url),
        retention_days=charter.retention_days,
        pull=f"cxgov audit --actor {actor} --action {action} --since {charter.retention_days}d --format csv",
        records=counts[0] if counts is not None else None,
        requests=counts[1] if counts is not None else None,
    )


def answer_questions(
    charter: Charter,
    *,
    trail: Trail,
    ledger: DrillLedger | None,
    archive: AuditArchive | None,
    now: datetime,
    actor: str | None = None,
    signatures: DrillSignatures | None = None,
    freezes: Sequence[Freeze] = (),
) -> GovernanceAnswers:
    """Answer Scope, Reversibility and Auditability for every action of every actor (or of `actor`).

    Reads the ledger and the drill signatures once per drilled action and the archive with two counts per
    (actor, action).

    Args:
        trail: Where the trail lives (namespace, addresses, archive URL).
        ledger: The drill ledger; None when there is none yet (every reversible action reads as never drilled).
        archive: The audit archive; None when there is none yet (no counts: "no records yet").
        now: The moment answered for: recertification and drill age are judged by it.
        actor: Only this actor or person.
        signatures: The drill signatures; None when there are none yet (every drill reads as not signed).
        freezes: The freezes in force: a frozen actor or action answers Scope with the freeze.

    Raises:
        BadRequest: `actor` is neither an actor nor a person of the charter.
    """
    names = actor_names(charter)
    if actor is not None:
        if actor not in names:
            raise BadRequest(
                f"unknown actor {actor!r}: charter {charter.charter} v{charter.version} names {', '.join(names)}",
                field="actor",
            )
        names = [actor]
    drills: dict[str, Drill] = {}
    answers = []
    for name in names:
        denied = actor_denial(charter, name, today=now.date())
        whole = next((f for f in freezes if f.scope.kind == "all" or f.scope.name == name), None)
        if denied is None and whole is not None and whole.scope.kind != "action":
            denied = whole.sentence()
        actions = []
        for action, grant in grants_of(charter, name):
            if action not in drills and charter.actions[action].reversal.kind != "irreversible":
                record = ledger.drills(action=action) if ledger is not None else ActionDrills(action, None, None)
                signed = signatures.current(charter=charter, action=action, now=now) if signatures else None
                drills[action] = drill_answer(charter, action, record, now=now, signed=signed)
            counts = None
            if archive is not None:
                counts = (
                    archive.count(actor=name, action=action),
                    archive.count(actor=name, action=action, kind="action"),
                )
            actions.append(
                ActionAnswer(
                    action=action,
                    summary=charter.actions[action].summary,
                    scope=_scope(charter, action, grant, denied=denied or _frozen(freezes, name, action)),
                    reversibility=_reversibility(charter, action, drills.get(action)),
                    auditability=_auditability(charter, name, action, trail, counts),
                )
            )
        known = charter.actors.get(name)
        person = charter.people.get(name)
        answers.append(
            ActorAnswer(
                actor=name,
                kind=known.kind if known is not None else "person",
                owner=known.owner if known is not None else None,
                roles=list(person.roles) if person is not None else [],
                recertify_by=known.recertify_by if known is not None else None,
                denied=denied,
                actions=actions,
            )
        )
    return GovernanceAnswers(
        charter=charter.charter,
        version=charter.version,
        signoffs=[Signature(function=s.function, by=s.by, on=s.on) for s in charter.signoffs],
        currency=charter.currency,
        retention_days=charter.retention_days,
        drill_max_age=format_duration(charter.drills.max_age),
        archive=shown_url(trail.archive_url),
        archive_note="no records yet" if archive is None else None,
        actors=answers,
    )
