"""Legal holds: audit records of a customer or an actor that retention never purges while the hold stands.

Placing a hold only keeps evidence longer, so any authenticated person may place one; releasing it lets
retention erase evidence, so only a person in the charter's `hold_roles` may (a charter naming none: a hold
stays until a charter names who may release it). Each hold and each release is a row here and a record on the
audit chain, written in one transaction, so the chain says who held what, when and why.

Retention purges the oldest stretch of the chain (see `cxgov.audit.retention`); a held record stops that
stretch, so it and every later record stay until the hold is released. That keeps the chain verifiable with
one expiry receipt per purge; the price is that records after the first held one wait too, which
`cxgov audit holds` and the purge's receipt say.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, or_, select, update
from sqlmodel import Field, SQLModel, col

from cxgov.audit.append import RECORDS, append_chained, lock_head
from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter import Charter
from cxgov.errors import BadRequest, Denied, NotFound

HoldKind = Literal["customer", "actor"]


class LegalHoldRow(SQLModel, table=True):
    """One legal hold, released or not."""

    __tablename__ = "legal_hold"

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)
    """customer | actor"""
    name: str = Field(max_length=100, index=True)
    reason: str = Field(max_length=2000)
    placed_by: str = Field(max_length=100)
    placed_via: str = Field(max_length=200)
    placed_at: datetime
    released_by: str | None = Field(default=None, max_length=100)
    released_via: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = None
    release_reason: str | None = Field(default=None, max_length=2000)


class LegalHold(BaseModel):
    """A hold as shown to users."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: HoldKind
    name: str
    reason: str
    placed_by: str
    placed_via: str
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def shown(self) -> str:
        return f"{self.kind} {self.name}"


def hold_scope(*, customer: str | None, actor: str | None) -> tuple[HoldKind, str]:
    """The one scope a hold names.

    Raises:
        BadRequest: none or both named, or an empty or overlong name.
    """
    if (customer is None) == (actor is None):
        raise BadRequest("name exactly one of --customer C or --actor A")
    kind: HoldKind = "customer" if customer is not None else "actor"
    name = (customer if customer is not None else actor) or ""
    if not name.strip() or len(name) > 100:
        raise BadRequest(f"the {kind} to hold must be a name of 1 to 100 characters", field=kind)
    return kind, name.strip()


def held_condition(connection: Connection) -> ColumnElement[bool] | None:
    """A condition matching every audit record under an active hold (None: nothing is held)."""
    rows = connection.execute(
        select(col(LegalHoldRow.kind), col(LegalHoldRow.name)).where(col(LegalHoldRow.released_at).is_(None))
    ).all()
    customers = sorted({name for kind, name in rows if kind == "customer"})
    actors = sorted({name for kind, name in rows if kind == "actor"})
    conditions: list[ColumnElement[bool]] = []
    if customers:
        conditions.append(RECORDS.c.customer.in_(customers))
    if actors:
        conditions.append(RECORDS.c.actor.in_(actors))
    return or_(*conditions) if conditions else None


def ensure_hold_table(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=[SQLModel.metadata.tables["legal_hold"]])


class HoldBook:
    """The legal holds, placed and released, next to the audit archive."""

    def __init__(self, url: str) -> None:
        from cxgov.audit.store import AuditArchive

        AuditArchive(url).close()  # the chain's tables, which holds are recorded on
        self.database = ArchiveDatabase(url)
        with self.database.writing() as connection:
            ensure_hold_table(connection)

    def close(self) -> None:
        self.database.close()

    def place(self, *, kind: HoldKind, name: str, reason: str, person: str, via: str, now: datetime) -> LegalHold:
        """Hold every audit record of a customer or an actor, now and later, until released.

        Raises:
            BadRequest: The reason is empty.
        """
        if not reason.strip():
            raise BadRequest("the reason is empty: say why these records must be kept (a case, a request)")
        row = LegalHoldRow(
            id=f"hold-{uuid.uuid4().hex[:12]}",
            kind=kind,
            name=name,
            reason=reason.strip(),
            placed_by=person,
            placed_via=via,
            placed_at=to_db_time(now),
        )
        with self.database.writing() as connection:
            head = lock_head(connection, dialect=self.database.dialect)
            connection.execute(LegalHoldRow.__table__.insert().values(**row.model_dump()))  # type: ignore[attr-defined]
            append_chained(connection, head=head, records=[_record("hold_placed", row, person, reason, now)])
        return _public(row)

    def release(
        self, *, hold_id: str, charter: Charter, reason: str, person: str, via: str, now: datetime
    ) -> LegalHold:
        """Release an active hold, as a person in the charter's hold_roles.

        Raises:
            Denied: `person` is not in the hold roles (or the charter names none).
            NotFound: No active hold has this id.
            BadRequest: The reason is empty.
        """
        holders = charter.holders(charter.hold_roles)
        if person not in holders:
            if not charter.hold_roles:
                raise Denied(
                    f"charter v{charter.version} names no hold_roles: nobody can release a legal hold "
                    "(name the roles that may in the charter's hold_roles)"
                )
            roles = ", ".join(charter.hold_roles)
            raise Denied(f"{person} is not in the hold roles ({roles}: {', '.join(holders) or 'nobody'})")
        if not reason.strip():
            raise BadRequest("the reason is empty: say why these records may now be purged")
        with self.database.writing() as connection:
            head = lock_head(connection, dialect=self.database.dialect)
            found = connection.execute(
                select(LegalHoldRow.__table__).where(  # type: ignore[attr-defined]
                    col(LegalHoldRow.id) == hold_id, col(LegalHoldRow.released_at).is_(None)
                )
            ).first()
            if found is None:
                raise NotFound(f"no active legal hold {hold_id!r}: `cxgov audit holds` lists them")
            row = LegalHoldRow.model_validate(found._mapping)
            changes = {
                "released_by": person,
                "released_via": via,
                "released_at": to_db_time(now),
                "release_reason": reason.strip(),
            }
            connection.execute(update(LegalHoldRow).where(col(LegalHoldRow.id) == hold_id).values(**changes))
            released = row.model_copy(update=changes)
            append_chained(connection, head=head, records=[_record("hold_released", released, person, reason, now)])
        return _public(released)

    def holds(self, *, active_only: bool = True) -> list[LegalHold]:
        """The holds, oldest first; all of them, released too, with `active_only=False`."""
        query = select(LegalHoldRow.__table__).order_by(col(LegalHoldRow.placed_at))  # type: ignore[attr-defined]
        if active_only:
            query = query.where(col(LegalHoldRow.released_at).is_(None))
        with self.database.reading() as connection:
            rows = connection.execute(query).all()
        return [_public(LegalHoldRow.model_validate(row._mapping)) for row in rows]


def _record(kind: str, row: LegalHoldRow, person: str, reason: str, now: datetime) -> AuditRecordBase:
    detail = {"hold": row.id, "scope": row.kind, "name": row.name, "via": row.released_via or row.placed_via}
    return AuditRecordBase(
        kind=kind,
        time=to_db_time(now),
        source=f"{kind}:{row.id}",
        actor=person,
        actor_kind="person",
        customer=row.name if row.kind == "customer" else None,
        reason=reason.strip(),
        detail=json.dumps(detail, separators=(",", ":")),
    )


def _public(row: LegalHoldRow) -> LegalHold:
    return LegalHold(
        id=row.id,
        kind="customer" if row.kind == "customer" else "actor",
        name=row.name,
        reason=row.reason,
        placed_by=row.placed_by,
        placed_via=row.placed_via,
        placed_at=from_db_time(row.placed_at),
        released_by=row.released_by,
        released_at=None if row.released_at is None else from_db_time(row.released_at),
        release_reason=row.release_reason,
    )
