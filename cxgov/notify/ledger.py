"""The delivery ledger: which notice reached which target through which channel, so each is sent once.

One row per (notice key, target, channel), in the audit archive's database (CXGOV_DATABASE_URL, or SQLite
under CXGOV_HOME). A sender claims its rows before it sends (state `sending`, with a claim token) and settles
them after (`delivered` or `failed`), each in a short write transaction under the archive's single-writer
lock, never across the network call. So two workers never send the same row at once, a delivered row is never
sent again, and a failed one is sent again by the next send of the same key. A claim older than the lease
belongs to a sender that stopped mid-send; the row is sent again (a message may then arrive twice: no mail or
webhook can be sent and recorded in one transaction).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, UniqueConstraint, and_, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import Field, SQLModel, col, select, update

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.notify.models import Event, Notice, NoticeFailure

State = Literal["sending", "delivered", "failed"]
NO_CHANNEL = ""
"""The channel of a target that has no route: its failure is recorded once per key and target."""
STOPPED_MID_SEND = "the sender stopped while sending: not known whether it arrived"


class NoticeDelivery(SQLModel, table=True):
    """One notice, one target, one channel: its state and its last attempt. Never the URL."""

    __tablename__ = "notice_delivery"
    __table_args__ = (UniqueConstraint("key", "target", "channel", name="uq_notice_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, index=True)
    target: str = Field(max_length=210)
    channel: str = Field(max_length=32)
    """The channel's fingerprint (`Channel.fingerprint`); empty when the target had no route."""
    scheme: str | None = Field(default=None, max_length=40)
    event: str = Field(max_length=40)
    action_id: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=300)
    state: str = Field(max_length=16, index=True)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)
    claim: str | None = Field(default=None, max_length=32)
    first_at: datetime
    at: datetime = Field(index=True)
    """The last attempt (or the claim, while sending)."""


@dataclass(frozen=True)
class Slot:
    """One channel of one target, as a notice is about to be sent."""

    target: str
    channel: str
    scheme: str | None


@dataclass(frozen=True)
class Claim:
    """What the ledger says about a slot: `send` it (under `token`), already `delivered`, or `busy` elsewhere."""

    slot: Slot
    verdict: Literal["send", "delivered", "busy"]
    token: str | None = None
    since: datetime | None = None


class DeliveryLedger:
    """Claims, settles and lists notice deliveries.

    Args:
        url: The database URL (the audit archive's).
    """

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        SQLModel.metadata.create_all(self.database.engine, tables=[SQLModel.metadata.tables["notice_delivery"]])

    def close(self) -> None:
        self.database.close()

    def claim(self, *, notice: Notice, slots: list[Slot], now: datetime, lease: timedelta) -> list[Claim]:
        """Claim every slot that is neither delivered nor being sent by someone else, in one transaction."""
        claims: list[Claim] = []
        with self.database.writing() as connection:
            rows = _rows(connection, notice.key)
            for slot in slots:
                row = rows.get((slot.target, slot.channel))
                if row is not None and row.state == "delivered":
                    claims.append(Claim(slot=slot, verdict="delivered"))
                    continue
                if row is not None and row.state == "sending" and now - from_db_time(row.at) < lease:
                    claims.append(Claim(slot=slot, verdict="busy", since=from_db_time(row.at)))
                    continue
                token = secrets.token_hex(16)
                _upsert(connection, notice=notice, slot=slot, row=row, state="sending", now=now, claim=token)
                claims.append(Claim(slot=slot, verdict="send", token=token))
        return claims

    def settle(self, *, key: str, outcomes: list[tuple[Claim, str | None]], now: datetime) -> None:
        """Record each claimed send's outcome (None: delivered; else the error), unless the claim was lost."""
        with self.database.writing() as connection:
            for claim, error in outcomes:
                connection.execute(
                    update(NoticeDelivery)
                    .where(
                        col(NoticeDelivery.key) == key,
                        col(NoticeDelivery.target) == claim.slot.target,
                        col(NoticeDelivery.channel) == claim.slot.channel,
                        col(NoticeDelivery.claim) == claim.token,
                    )
                    .values(
                        state="delivered" if error is None else "failed",
                        error=error,
                        claim=None,
                        at=to_db_time(now),
                    )
                )

    def no_route(self, *, notice: Notice, target: str, error: str, now: datetime) -> bool:
        """Record that `target` could not be told (it has no route); False when it was told before."""
        slot = Slot(target=target, channel=NO_CHANNEL, scheme=None)
        with self.database.writing() as connection:
            rows = _rows(connection, notice.key)
            if any(row.state == "delivered" for (row_target, _), row in rows.items() if row_target == target):
                return False
            row = rows.get((target, NO_CHANNEL))
            _upsert(connection, notice=notice, slot=slot, row=row, state="failed", now=now, error=error)
            return True

    def failures(
        self, *, since: datetime | None, now: datetime, lease: timedelta, limit: int = 1000
    ) -> list[NoticeFailure]:
        """Targets a notice has not reached on any channel, newest first (a stale claim counts as failed)."""
        told = aliased(NoticeDelivery)
        stale = to_db_time(now - lease)
        query = (
            select(NoticeDelivery)
            .where(
                or_(
                    col(NoticeDelivery.state) == "failed",
                    and_(col(NoticeDelivery.state) == "sending", col(NoticeDelivery.at) < stale),
                ),
                ~exists().where(
                    col(told.key) == col(NoticeDelivery.key),
                    col(told.target) == col(NoticeDelivery.target),
                    col(told.state) == "delivered",
                ),
            )
            .order_by(col(NoticeDelivery.at).desc(), col(NoticeDelivery.id).desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(col(NoticeDelivery.at) >= to_db_time(since))
        with self.database.reading() as connection:
            found = [NoticeDelivery.model_validate(row._mapping) for row in connection.execute(query).all()]
        return [
            NoticeFailure(
                key=row.key,
                event=Event(row.event),
                action_id=row.action_id,
                target=row.target,
                channel=row.scheme,
                error=row.error if row.state == "failed" and row.error else STOPPED_MID_SEND,
                at=from_db_time(row.at),
                attempts=row.attempts,
                subject=row.subject,
            )
            for row in found
        ]


def _rows(connection: Connection, key: str) -> dict[tuple[str, str], NoticeDelivery]:
    rows = connection.execute(select(NoticeDelivery).where(col(NoticeDelivery.key) == key)).all()
    found = (NoticeDelivery.model_validate(row._mapping) for row in rows)
    return {(row.target, row.channel): row for row in found}


def _upsert(
    connection: Connection,
    *,
    notice: Notice,
    slot: Slot,
    row: NoticeDelivery | None,
    state: State,
    now: datetime,
    claim: str | None = None,
    error: str | None = None,
) -> None:
    values = {
        "state": state,
        "claim": claim,
        "error": error,
        "at": to_db_time(now),
        "scheme": slot.scheme,
        "attempts": (row.attempts if row is not None else 0) + 1,
    }
    if row is None:
        connection.execute(
            NoticeDelivery.__table__.insert().values(  # type: ignore[attr-defined]
                key=notice.key,
                target=slot.target,
                channel=slot.channel,
                event=notice.event.value,
                action_id=notice.action_id,
                subject=notice.subject[:300],
                first_at=to_db_time(now),
                **values,
            )
        )
    else:
        connection.execute(update(NoticeDelivery).where(col(NoticeDelivery.id) == row.id).values(**values))
