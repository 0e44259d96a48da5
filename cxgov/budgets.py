"""Budgets (rule 4): how much of a grant's `budget` an actor has used in its rolling window.

A request that would be allowed or escalated reserves its share (count 1, its amount) in the same locked
transaction that checks the window, so concurrent requests can never overspend; an action that ends without
its effect (denied on the ladder, expired, compensated, failed) releases its reservation. Stored next to the
audit archive (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, String, func
from sqlmodel import Field, SQLModel, col, select, update

from cxgov.audit.database import ArchiveDatabase, to_db_time
from cxgov.charter.models import Budget


class BudgetUse(SQLModel, table=True):
    """One action's share of a budget."""

    __tablename__ = "budget_use"

    action_id: str = Field(primary_key=True, max_length=200)
    actor: str = Field(max_length=100, index=True)
    action: str = Field(max_length=100)
    amount: str = Field(default="0", sa_column=Column(String(40), nullable=False, default="0"))
    """Decimal text, so amounts add up exactly."""
    at: datetime = Field(index=True)
    released: bool = False


class BudgetLedger:
    """Reserves and releases budget shares."""

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        SQLModel.metadata.create_all(self.database.engine, tables=[SQLModel.metadata.tables["budget_use"]])

    def close(self) -> None:
        self.database.close()

    def reserve(
        self, *, action_id: str, actor: str, action: str, amount: Decimal | None, budget: Budget, now: datetime
    ) -> str | None:
        """Reserve this action's share if it fits the window; returns why not when it does not.

        Idempotent on the action id: a retried authorize finds its reservation and gets None again.
        """
        with self.database.writing() as connection:
            if connection.execute(select(BudgetUse.action_id).where(col(BudgetUse.action_id) == action_id)).first():
                return None
            since = to_db_time(now - budget.per)
            window = (
                col(BudgetUse.actor) == actor,
                col(BudgetUse.action) == action,
                col(BudgetUse.at) >= since,
                col(BudgetUse.released).is_(False),
            )
            used = connection.execute(select(func.count()).select_from(BudgetUse).where(*window)).scalar_one()
            spent = sum(
                (Decimal(value) for value in connection.execute(select(BudgetUse.amount).where(*window)).scalars()),
                Decimal(0),
            )
            per = _window(budget)
            if budget.count is not None and used + 1 > budget.count:
                return f"budget exhausted: {actor} has taken {used} {action} action(s) in the rolling {per} (limit {budget.count})"
            if budget.amount is not None and amount is not None and spent + amount > budget.amount:
                return (
                    f"budget exhausted: {actor} has used {spent} of {budget.amount} in the rolling {per}; "
                    f"{amount} more would exceed it"
                )
            connection.execute(
                BudgetUse.__table__.insert().values(  # type: ignore[attr-defined]
                    action_id=action_id, actor=actor, action=action, amount=str(amount or 0), at=to_db_time(now)
                )
            )
        return None

    def release(self, *, action_id: str) -> bool:
        """Give an action's share back (it ended without its effect); True when there was one to release."""
        with self.database.writing() as connection:
            done = connection.execute(
                update(BudgetUse)
                .where(col(BudgetUse.action_id) == action_id, col(BudgetUse.released).is_(False))
                .values(released=True)
            )
            return bool(done.rowcount)

    def used(self, *, actor: str, action: str, budget: Budget, now: datetime) -> tuple[int, Decimal]:
        """Count and amount of unreleased shares in the window (for `cxgov questions`)."""
        with self.database.reading() as connection:
            amounts = list(
                connection.execute(
                    select(BudgetUse.amount).where(
                        col(BudgetUse.actor) == actor,
                        col(BudgetUse.action) == action,
                        col(BudgetUse.at) >= to_db_time(now - budget.per),
                        col(BudgetUse.released).is_(False),
                    )
                ).scalars()
            )
        return len(amounts), sum((Decimal(value) for value in amounts), Decimal(0))


def _window(budget: Budget) -> str:
    seconds = int(budget.per.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
