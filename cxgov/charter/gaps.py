"""Charter gaps: places where the charter does not say enough to govern safely. A gap is reported, never guessed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from cxgov.charter.models import Charter, Grant


@dataclass(frozen=True)
class CharterGap:
    """One gap: what kind, about what, and what to do."""

    kind: str
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def charter_gaps(charter: Charter, *, today: date) -> list[CharterGap]:
    """Every gap in `charter`, in a stable order (by kind, then charter order)."""
    gaps: list[CharterGap] = []
    gaps += _reversal_owners(charter)
    gaps += _irreversible_without_approval(charter)
    gaps += _empty_roles(charter)
    gaps += _overdue_actors(charter, today=today)
    gaps += _unknown_names(charter)
    gaps += _overlapping_grants(charter)
    gaps += _below_retention_floor(charter)
    return gaps


def _below_retention_floor(charter: Charter) -> list[CharterGap]:
    from cxgov.settings import retention_floor_days

    floor = retention_floor_days()
    if charter.retention_days >= floor:
        return []
    detail = (
        f"retention_days {charter.retention_days} is below the floor of {floor} days (CXGOV_RETENTION_FLOOR_DAYS): "
        "workers refuse this charter"
    )
    return [CharterGap("retention-floor", "retention_days", detail)]


def _reversal_owners(charter: Charter) -> list[CharterGap]:
    gaps = []
    for name, action in charter.actions.items():
        owner = action.reversal.owner
        if owner is None:
            why = (
                "nobody owns its procedure when it goes wrong"
                if action.reversal.kind == "irreversible"
                else "nobody may reverse it"
            )
            gaps.append(CharterGap("no-reversal-owner", f"action {name}", f"no reversal owner: {why}"))
        elif owner not in charter.roles:
            gaps.append(CharterGap("no-reversal-owner", f"action {name}", f"reversal owner {owner!r} is not a role"))
    return gaps


def _irreversible_without_approval(charter: Charter) -> list[CharterGap]:
    gaps = []
    for grant in charter.grants:
        action = charter.actions.get(grant.action)
        if action is None or action.reversal.kind != "irreversible" or grant.require_approval:
            continue
        if grant.actor is not None and grant.actor in charter.actors:
            kind = charter.actors[grant.actor].kind
            gaps.append(
                CharterGap(
                    "irreversible-without-approval",
                    f"actor {grant.actor}",
                    f"{kind} {grant.actor} may take irreversible action {grant.action} without a human approval",
                )
            )
    return gaps


def _empty_roles(charter: Charter) -> list[CharterGap]:
    gaps = []
    seen: set[str] = set()
    for name in charter.actions:
        for phase in charter.ladder(name) or []:
            if phase.role in seen or phase.approvers:
                continue
            seen.add(phase.role)
            known = "" if phase.role in charter.roles else " (not declared under roles)"
            gaps.append(
                CharterGap(
                    "ladder-role-without-people",
                    f"role {phase.role}",
                    f"approval ladder of {name} asks role {phase.role}{known}, which has no people",
                )
            )
    return gaps


def _overdue_actors(charter: Charter, *, today: date) -> list[CharterGap]:
    return [
        CharterGap(
            "recertification-overdue",
            f"actor {name}",
            f"{actor.kind} {name} was due for recertification on {actor.recertify_by.isoformat()} "
            f"(owner {actor.owner}); every request it makes is denied until then",
        )
        for name, actor in charter.actors.items()
        if charter.standing(name, today=today).overdue_since is not None
    ]


def _unknown_names(charter: Charter) -> list[CharterGap]:
    gaps = []
    for index, grant in enumerate(charter.grants):
        subject = f"grant #{index + 1} ({grant.grantee}, {grant.action})"
        if grant.actor is not None and grant.actor not in charter.actors and grant.actor not in charter.people:
            gaps.append(CharterGap("unknown-name", subject, f"names unknown actor {grant.actor!r}"))
        if grant.role is not None and grant.role not in charter.roles:
            gaps.append(CharterGap("unknown-name", subject, f"names unknown role {grant.role!r}"))
        if grant.action not in charter.actions:
            gaps.append(CharterGap("unknown-name", subject, f"names unknown action {grant.action!r}"))
        elif charter.actions[grant.action].amount_param is None and (grant.max_amount or grant.approve_above):
            gaps.append(
                CharterGap("unknown-name", subject, f"sets amount limits, but {grant.action} has no money param")
            )
    for name, person in charter.people.items():
        for role in person.roles:
            if role not in charter.roles:
                gaps.append(CharterGap("unknown-name", f"person {name}", f"holds unknown role {role!r}"))
    for name, role_def in charter.roles.items():
        if role_def.coverage is not None and role_def.coverage not in charter.roles:
            gaps.append(CharterGap("unknown-name", f"role {name}", f"coverage {role_def.coverage!r} is not a role"))
    for name, actor in charter.actors.items():
        if actor.owner not in charter.people:
            gaps.append(CharterGap("unknown-name", f"actor {name}", f"owner {actor.owner!r} is not a person"))
    return gaps


def _overlapping_grants(charter: Charter) -> list[CharterGap]:
    covering: dict[tuple[str, str], list[Grant]] = {}
    for grant in charter.grants:
        if grant.actor is not None:
            covering.setdefault((grant.actor, grant.action), []).append(grant)
        else:
            for person in charter.members(grant.role or ""):
                covering.setdefault((person, grant.action), []).append(grant)
    return [
        CharterGap(
            "overlapping-grants",
            f"{who} / {action}",
            f"{len(grants)} grants cover {who} for {action} ({'; '.join(g.grantee for g in grants)}); "
            "the first in file order applies",
        )
        for (who, action), grants in covering.items()
        if len(grants) > 1
    ]
