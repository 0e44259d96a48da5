"""Budgets (rule 4): how much of a grant's `budget` an actor has used in its rolling window.

A request that would be allowed or escalated reserves its share (count 1, its amount) in the same locked
transaction that checks the window, so concurrent requests can never overspend; an action that ends without
its effect (denied on the ladder, expired, compensated, failed) releases its reservation.

The ledger is the audit chain itself: a reservation is a `budget_reserved` record and a release a
`budget_released` record, appended under the chain's single-writer lock, and the window is summed from those
records. There is no separate table whose row an insider could edit or delete to refill a budget: changing a
record breaks the chain (`cxgov audit verify`). Stored with the audit archive (CXGOV_DATABASE_URL, or SQLite
under CXGOV_HOME).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from cxgov.audit.append import RECORDS, append_chained, existing, lock_head
from cxgov.audit.database import ArchiveDatabase, to_db_time
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter.models import Budget

RESERVED = "budget_reserved"
RELEASED = "budget_released"


def _reserved_source(action_id: str) -> str:
    return f"budget:{action_id}"


def _released_source(action_id: str) -> str:
    return f"budget-release:{action_id}"


class BudgetLedger:
    """Reserves and releases budget shares, as records on the audit chain."""

    def __init__(self, url: str) -> None:
        from cxgov.audit.store import AuditArchive

        AuditArchive(url).close()  # creates the chain's tables when missing
        self.database = ArchiveDatabase(url)

    def close(self) -> None:
        self.database.close()

    def reserve(
        self, *, action_id: str, actor: str, action: str, amount: Decimal | None, budget: Budget, now: datetime
    ) -> str | None:
        """Reserve this action's share if it fits the window; returns why not when it does not.

        Idempotent on the action id: a retried authorize finds its reservation and gets None again.
        """
        with self.database.writing() as connection:
            head = lock_head(connection, dialect=self.database.dialect)
            if existing(connection, column="source", values=[_reserved_source(action_id)]):
                return None
            used, spent = _window(connection, actor=actor, action=action, since=now - budget.per)
            per = _per(budget)
            if budget.count is not None and used + 1 > budget.count:
                return f"budget exhausted: {actor} has taken {used} {action} action(s) in the rolling {per} (limit {budget.count})"
            if budget.amount is not None and amount is not None and spent + amount > budget.amount:
                return (
                    f"budget exhausted: {actor} has used {spent} of {budget.amount} in the rolling {per}; "
                    f"{amount} more would exceed it"
                )
            record = AuditRecordBase(
                kind=RESERVED,
                time=to_db_time(now),
                source=_reserved_source(action_id),
                action_id=action_id,
                actor=actor,
                action=action,
                reason=f"budget share reserved: {amount or 0} of the rolling {per}",
                detail=json.dumps({"amount": str(amount or 0)}, separators=(",", ":")),
            )
            append_chained(connection, head=head, records=[record])
        return None

    def release(self, *, action_id: str, now: datetime | None = None) -> bool:
        """Give an action's share back (it ended without its effect); True when there was one to release."""
        with self.database.writing() as connection:
            head = lock_head(connection, dialect=self.database.dialect)
            reserved = connection.execute(
                select(RECORDS.c.actor, RECORDS.c.action).where(RECORDS.c.source == _reserved_source(action_id))
            ).first()
            if reserved is None or existing(connection, column="source", values=[_released_source(action_id)]):
                return False
            record = AuditRecordBase(
                kind=RELEASED,
                time=to_db_time(now or datetime.now(UTC)),
                source=_released_source(action_id),
                action_id=action_id,
                actor=reserved.actor,
                action=reserved.action,
                reason="budget share released: the action ended without its effect",
            )
            append_chained(connection, head=head, records=[record])
        return True

    def used(self, *, actor: str, action: str, budget: Budget, now: datetime) -> tuple[int, Decimal]:
        """Count and amount of unreleased shares in the window (for `cxgov questions`)."""
        with self.database.reading() as connection:
            return _window(connection, actor=actor, action=action, since=now - budget.per)


def _window(connection: Connection, *, actor: str, action: str, since: datetime) -> tuple[int, Decimal]:
    """Count and amount of the shares of `actor`'s `action` reserved since `since` and not released."""
    shares = connection.execute(
        select(RECORDS.c.action_id, RECORDS.c.detail).where(
            RECORDS.c.kind == RESERVED,
            RECORDS.c.actor == actor,
            RECORDS.c.action == action,
            RECORDS.c.time >= to_db_time(since),
        )
    ).all()
    if not shares:
        return 0, Decimal(0)
    released = existing(connection, column="source", values=[_released_source(share[0]) for share in shares])
    kept = [share for share in shares if _released_source(share[0]) not in released]
    return len(kept), sum((Decimal(json.loads(detail)["amount"]) for _, detail in kept), Decimal(0))


def _per(budget: Budget) -> str:
    seconds = int(budget.per.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
