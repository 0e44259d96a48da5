"""What changed between two charters, in words a CX leader reads: grants, limits, ladders, actions, people.

Built on the pydantic models, never on the YAML text: moving a key or a comment changes nothing here, and a
limit written `200` or `200.00` is the same limit. Grants are matched by grantee and action (the first grant
in file order counts, as in decisions); everything else by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from cxgov.charter.models import Action, Charter, Grant

Area = Literal["charter", "sign-offs", "grants", "actions", "ladders", "people", "roles", "actors"]
AREAS: tuple[Area, ...] = ("charter", "sign-offs", "grants", "actions", "ladders", "people", "roles", "actors")


class Change(BaseModel):
    """One difference: its area, what it is about, and the change in words."""

    area: Area
    subject: str
    text: str


def diff_charters(old: Charter, new: Charter) -> list[Change]:
    """Every difference from `old` to `new`, grouped by area in a fixed order."""
    changes: list[Change] = []
    changes += _fields("charter", "charter", _head(old), _head(new))
    changes += _signoffs(old, new)
    changes += _grants(old, new)
    changes += _named("actions", old.actions, new.actions, _action)
    changes += _ladders(old, new)
    changes += _named("people", old.people, new.people, lambda p: p.model_dump())
    changes += _named("roles", old.roles, new.roles, lambda r: r.model_dump())
    changes += _named("actors", old.actors, new.actors, lambda a: a.model_dump())
    order = {area: index for index, area in enumerate(AREAS)}
    return sorted(changes, key=lambda change: order[change.area])


def _head(charter: Charter) -> dict[str, Any]:
    return {
        "version": charter.version,
        "name": charter.charter,
        "currency": charter.currency,
        "retention_days": charter.retention_days,
        "drills.every": charter.drills.model_dump(mode="json")["every"],
        "drills.max_age": charter.drills.model_dump(mode="json")["max_age"],
        "required_signoffs": charter.required_signoffs,
        "freeze_roles": charter.freeze_roles,
        "override_roles": charter.override_roles,
        "hold_roles": charter.hold_roles,
    }


def _signoffs(old: Charter, new: Charter) -> list[Change]:
    before = {s.function: f"{s.by} on {s.on.isoformat()}" for s in old.signoffs}
    after = {s.function: f"{s.by} on {s.on.isoformat()}" for s in new.signoffs}
    changes = []
    for function in [*after, *(name for name in before if name not in after)]:
        if before.get(function) != after.get(function):
            was, now = before.get(function), after.get(function)
            text = (
                f"signed off by {now} (new)"
                if was is None
                else f"sign-off removed (was {was})"
                if now is None
                else f"signed off by {now} (was {was})"
            )
            changes.append(Change(area="sign-offs", subject=function, text=text))
    return changes


def _grant_key(grant: Grant) -> str:
    return f"{grant.grantee} {grant.action}"


def _grant(grant: Grant) -> dict[str, Any]:
    shown = grant.model_dump(exclude={"actor", "role", "action"}, exclude_defaults=True)
    return {key: value for key, value in shown.items() if value is not None}


def _grants(old: Charter, new: Charter) -> list[Change]:
    before: dict[str, Grant] = {}
    for grant in old.grants:
        before.setdefault(_grant_key(grant), grant)
    after: dict[str, Grant] = {}
    for grant in new.grants:
        after.setdefault(_grant_key(grant), grant)
    return _named("grants", before, after, _grant)


def _action(action: Action) -> dict[str, Any]:
    shown = action.model_dump(exclude={"approval"})
    return _flat(shown)


def _ladders(old: Charter, new: Charter) -> list[Change]:
    """Approval ladders as they run: each step with its coverage, and the step timeout."""

    def ladder(charter: Charter) -> dict[str, dict[str, Any]]:
        found = {}
        for name, action in charter.actions.items():
            if action.approval is None:
                continue
            steps = [
                f"{phase.role} (covering {phase.covering})" if phase.covering else phase.role
                for phase in charter.ladder(name) or []
            ]
            found[name] = {
                "steps": steps,
                "step_timeout": action.approval.model_dump(mode="json")["step_timeout"],
                "on_timeout": action.approval.on_timeout,
            }
        return found

    return _named("ladders", ladder(old), ladder(new), lambda fields: fields)


def _named(area: Area, before: Mapping[str, Any], after: Mapping[str, Any], shape: Any) -> list[Change]:
    changes = []
    for name in [*after, *(key for key in before if key not in after)]:
        if name not in before:
            changes.append(Change(area=area, subject=name, text=f"added: {_describe(shape(after[name]))}"))
        elif name not in after:
            changes.append(Change(area=area, subject=name, text=f"removed (was: {_describe(shape(before[name]))})"))
        else:
            changes += _fields(area, name, _flat(shape(before[name])), _flat(shape(after[name])))
    return changes


def _fields(area: Area, subject: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    changes = []
    for key in [*after, *(name for name in before if name not in after)]:
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        text = (
            f"{key} set to {_value(now)}"
            if was is None
            else f"{key} {_value(was)} removed"
            if now is None
            else f"{key} {_value(was)} -> {_value(now)}"
        )
        changes.append(Change(area=area, subject=subject, text=text))
    return changes


def _flat(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _describe(fields: Mapping[str, Any]) -> str:
    shown = [f"{key} {_value(value)}" for key, value in _flat(fields).items() if value not in (None, [], {}, "")]
    return ", ".join(shown) or "no limits"


def _value(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def describe_changes(changes: Iterable[Change]) -> list[str]:
    """Text lines: one heading per area, one line per change."""
    lines: list[str] = []
    area: str | None = None
    for change in changes:
        if change.area != area:
            area = change.area
            lines.append(f"{area}:")
        lines.append(f"  {change.subject}: {change.text}")
    return lines
