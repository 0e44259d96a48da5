"""The kill switch: freezes that stop an actor, an action, or everything, from the next decision on.

`cxgov freeze (--actor A | --action X | --all) --as PERSON --reason TEXT`, only for people in the charter's
`freeze_roles`. A freeze is a row here (durable: it outlives every process) and a `frozen` record on the audit
chain; `unfreeze` lifts it and appends `unfrozen`. Authorize reads the active freezes before anything else
(rule `0-frozen`); the front door also ends the actions of the scope that wait on an approval (see
cxgov.api.interventions). The table lives next to the audit archive (`CXGOV_DATABASE_URL`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter.models import Charter
from cxgov.errors import BadRequest, Denied, NotFound

ScopeKind = Literal["actor", "action", "all"]


class FreezeRow(SQLModel, table=True):
    """One freeze, from the moment it was set until it was lifted (if it was)."""

    __tablename__ = "freeze"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=120, index=True)
    """`actor:<name>`, `action:<name>` or `all`."""
    frozen_by: str = Field(max_length=100)
    frozen_via: str = Field(max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    frozen_at: datetime
    lifted_by: str | None = Field(default=None, max_length=100)
    lifted_via: str | None = Field(default=None, max_length=200)
    lift_reason: str | None = Field(default=None, sa_column=Column(Text))
    lifted_at: datetime | None = Field(default=None, index=True)


class Scope(BaseModel):
    """What a freeze covers."""

    kind: ScopeKind
    name: str | None = None
    """The actor or action; None for `all`."""

    @property
    def key(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.name}"

    @property
    def shown(self) -> str:
        """`actor support-bot`, `action refund`, `every actor and action`."""
        return "every actor and action" if self.kind == "all" else f"{self.kind} {self.name}"

    def covers(self, *, actor: str, action: str) -> bool:
        if self.kind == "all":
            return True
        return self.name == (actor if self.kind == "actor" else action)

    @classmethod
    def of(cls, key: str) -> Scope:
        if key == "all":
            return cls(kind="all")
        kind, _, name = key.partition(":")
        return cls(kind="actor" if kind == "actor" else "action", name=name)


class Freeze(BaseModel):
    """A freeze as `freeze`, `unfreeze`, `questions` and `gaps` show it."""

    id: int
    scope: Scope
    frozen_by: str
    frozen_via: str
    reason: str
    frozen_at: datetime
    lifted_by: str | None = None
    lift_reason: str | None = None
    lifted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    def sentence(self) -> str:
        """`actor support-bot frozen by carla at 2026-12-01 14:02 UTC: refunds look wrong`."""
        return f"{self.scope.shown} frozen by {self.frozen_by} at {self.frozen_at:%Y-%m-%d %H:%M} UTC: {self.reason}"


def scope_of(charter: Charter, *, actor: str | None, action: str | None, everything: bool) -> Scope:
    """The one scope named by `--actor`, `--action` or `--all`, checked against the charter.

    Raises:
        BadRequest: none or several named, or a name the charter does not know.
    """
    if sum((actor is not None, action is not None, everything)) != 1:
        raise BadRequest("name exactly one scope: --actor NAME, --action NAME or --all")
    if actor is not None:
        if actor not in charter.actors and actor not in charter.people:
            known = ", ".join([*charter.actors, *charter.people])
            raise BadRequest(f"{actor!r} is not an actor or person of charter v{charter.version} ({known})")
        return Scope(kind="actor", name=actor)
    if action is not None:
        if action not in charter.actions:
            known = ", ".join(charter.actions)
            raise BadRequest(f"{action!r} is not an action of charter v{charter.version} ({known})")
        return Scope(kind="action", name=action)
    return Scope(kind="all")


def check_freezer(charter: Charter, person: str) -> None:
    """Only people in the charter's freeze roles freeze or unfreeze.

    Raises:
        Denied: `person` holds none of them (or the charter names none).
    """
    if not charter.freeze_roles:
        raise Denied(f"charter v{charter.version} names no freeze_roles: nobody can freeze or unfreeze")
    if person not in charter.holders(charter.freeze_roles):
        roles = ", ".join(charter.freeze_roles)
        holders = ", ".join(charter.holders(charter.freeze_roles)) or "nobody"
        raise Denied(f"{person} is not in the freeze roles ({roles}: {holders})")


class FreezeBook:
    """The freezes, current and past, and their audit records."""

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        SQLModel.metadata.create_all(self.database.engine, tables=[SQLModel.metadata.tables["freeze"]])
        self._archive = AuditArchive(url)

    def close(self) -> None:
        self.database.close()
        self._archive.close()

    def freeze(self, scope: Scope, *, person: str, via: str, reason: str, now: datetime) -> Freeze:
        """Freeze `scope`.

        Raises:
            BadRequest: `scope` is already frozen (the freeze in force is named), or no reason was given.
        """
        _check_reason(reason)
        current = self._current(scope)
        if current is not None:
            raise BadRequest(f"already frozen: {current.sentence()}")
        with self.database.writing() as connection:
            inserted = connection.execute(
                FreezeRow.__table__.insert().values(  # type: ignore[attr-defined]
                    scope=scope.key, frozen_by=person, frozen_via=via, reason=reason, frozen_at=to_db_time(now)
                )
            )
            key = inserted.inserted_primary_key
            assert key is not None
            freeze_id = int(key[0])
        self._audit("frozen", freeze_id=freeze_id, scope=scope, person=person, via=via, reason=reason, now=now)
        return Freeze(id=freeze_id, scope=scope, frozen_by=person, frozen_via=via, reason=reason, frozen_at=now)

    def unfreeze(self, scope: Scope, *, person: str, via: str, reason: str, now: datetime) -> Freeze:
        """Lift the freeze of `scope`.

        Raises:
            NotFound: `scope` is not frozen (the freezes in force are named).
        """
        _check_reason(reason)
        current = self._current(scope)
        if current is None:
            active = "; ".join(freeze.scope.shown for freeze in self.active()) or "nothing is frozen"
            raise NotFound(f"{scope.shown} is not frozen (frozen now: {active})")
        with self.database.writing() as connection:
            connection.execute(
                FreezeRow.__table__.update()  # type: ignore[attr-defined]
                .where(col(FreezeRow.id) == current.id, col(FreezeRow.lifted_at).is_(None))
                .values(lifted_by=person, lifted_via=via, lift_reason=reason, lifted_at=to_db_time(now))
            )
        self._audit("unfrozen", freeze_id=current.id, scope=scope, person=person, via=via, reason=reason, now=now)
        return current.model_copy(update={"lifted_by": person, "lift_reason": reason, "lifted_at": now})

    def active(self) -> list[Freeze]:
        """The freezes in force, oldest first (one indexed read: authorize asks before every decision)."""
        statement = select(FreezeRow).where(col(FreezeRow.lifted_at).is_(None)).order_by(col(FreezeRow.id))
        with self.database.reading() as connection:
            rows = connection.execute(statement).all()
        return [_freeze(FreezeRow.model_validate(row._mapping)) for row in rows]

    def covering(self, *, actor: str, action: str) -> Freeze | None:
        """The oldest freeze in force that covers `actor` taking `action`, or None."""
        return next((f for f in self.active() if f.scope.covers(actor=actor, action=action)), None)

    def all(self, *, since: datetime | None = None) -> list[Freeze]:
        """Every freeze (set at or after `since`, or still in force then), oldest first."""
        statement = select(FreezeRow).order_by(col(FreezeRow.id))
        if since is not None:
            moment = to_db_time(since)
            statement = statement.where(
                (col(FreezeRow.frozen_at) >= moment)
                | col(FreezeRow.lifted_at).is_(None)
                | (col(FreezeRow.lifted_at) >= moment)
            )
        with self.database.reading() as connection:
            rows = connection.execute(statement).all()
        return [_freeze(FreezeRow.model_validate(row._mapping)) for row in rows]

    def _current(self, scope: Scope) -> Freeze | None:
        return next((freeze for freeze in self.active() if freeze.scope == scope), None)

    def _audit(
        self, kind: str, *, freeze_id: int, scope: Scope, person: str, via: str, reason: str, now: datetime
    ) -> None:
        detail = {"scope": scope.key, "freeze_id": freeze_id, "via": via}
        record = AuditRecordBase(
            kind=kind,
            time=now,
            source=f"{kind}#{freeze_id}",
            actor=person,
            actor_kind="person",
            action=scope.name if scope.kind == "action" else None,
            reason=reason,
            detail=json.dumps(detail, separators=(",", ":")),
        )
        self._archive.append_records(records=[record])


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise BadRequest("--reason is required: say why, for the audit trail")


def _freeze(row: FreezeRow) -> Freeze:
    assert row.id is not None
    return Freeze(
        id=row.id,
        scope=Scope.of(row.scope),
        frozen_by=row.frozen_by,
        frozen_via=row.frozen_via,
        reason=row.reason,
        frozen_at=from_db_time(row.frozen_at),
        lifted_by=row.lifted_by,
        lift_reason=row.lift_reason,
        lifted_at=from_db_time(row.lifted_at) if row.lifted_at is not None else None,
    )
