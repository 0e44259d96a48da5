"""A minimal Python system of record: loyalty points in a SQLite file, bound to cxgov by import path.

    systems:
      loyalty:
        python: loyalty:open_system      # this file: found next to the systems file, or on PYTHONPATH
        options: {path: loyalty.db}
    actions:
      grant_points: loyalty

It serves one action, `grant_points` (params `points: money`), with the precondition `member_active`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cxgov.connectors import (
    CompensateResult,
    ConnectorCall,
    ConnectorRefused,
    DrillFixture,
    EffectResult,
    SystemContext,
    VerifyResult,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS member (id TEXT PRIMARY KEY, tier TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grant_ (action_id TEXT PRIMARY KEY, member TEXT NOT NULL, points TEXT NOT NULL,
                                   undone INTEGER NOT NULL DEFAULT 0);
"""


def open_system(context: SystemContext) -> LoyaltySystem:
    """The factory the systems file names: `options.path` is the database (relative to the systems file)."""
    path = context.base_dir / str(context.options.get("path", "loyalty.db"))
    return LoyaltySystem(path, members=context.options.get("members", {}))


class LoyaltySystem:
    """Members with a tier (the segment cxgov decides with) and the points granted to them."""

    name = "loyalty"
    until_events: Mapping[str, str] = {}

    def __init__(self, path: Path, *, members: Mapping[str, str] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.description = f"loyalty ({path})"
        with sqlite3.connect(path) as db:
            db.executescript(SCHEMA)
        with self.transaction() as db:
            for member, tier in (members or {}).items():
                db.execute("INSERT OR IGNORE INTO member VALUES (?, ?, 1)", (member, tier))
        self.connectors = {"grant_points": GrantPoints(self)}

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One connection per step (activities run on many threads); the write lock from the first read."""
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def segment(self, customer: str) -> str | None:
        with self.transaction() as db:
            row = db.execute("SELECT tier FROM member WHERE id = ?", (customer,)).fetchone()
        return None if row is None else str(row[0])

    def happened(self, event: str, call: ConnectorCall) -> bool:
        raise ValueError(f"loyalty cannot tell event {event}")

    def drill_system(self, workspace: Path) -> LoyaltySystem:
        return LoyaltySystem(workspace / "loyalty.db", members={"DRILL": "standard"})

    def close(self) -> None:
        """Nothing stays open between steps."""


class GrantPoints:
    """Grant points to a member; undone by taking them back. Idempotent on the action id (its primary key)."""

    action = "grant_points"
    preconditions = {"member_active": "the member's account is active"}

    def __init__(self, system: LoyaltySystem) -> None:
        self.system = system

    def check(self, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime) -> list[str]:
        with self.system.transaction() as db:
            return self._reasons(db, call, preconditions)

    def execute(self, call: ConnectorCall, *, now: datetime | None = None) -> EffectResult:
        with self.system.transaction() as db:
            if self._grant(db, call) is not None:
                return EffectResult(applied=False, summary=f"{call.action_id} already granted its points")
            reasons = self._reasons(db, call, call.preconditions)
            if reasons:
                raise ConnectorRefused("; ".join(reasons))
            points = str(call.params["points"])
            db.execute("INSERT INTO grant_ VALUES (?, ?, ?, 0)", (call.action_id, call.customer, points))
        return EffectResult(applied=True, summary=f"granted {points} points to {call.customer}")

    def verify(self, call: ConnectorCall) -> VerifyResult:
        with self.system.transaction() as db:
            grant = self._grant(db, call)
        return VerifyResult(ok=grant is not None and not grant[1], summary=f"grant of {call.action_id}: {grant}")

    def compensate(self, call: ConnectorCall) -> CompensateResult:
        with self.system.transaction() as db:
            grant = self._grant(db, call)
            if grant is None or grant[1]:
                return CompensateResult(undone=False, summary=f"nothing to undo for {call.action_id}")
            db.execute("UPDATE grant_ SET undone = 1 WHERE action_id = ?", (call.action_id,))
        return CompensateResult(undone=True, summary=f"took back {grant[0]} points from {call.customer}")

    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        with self.system.transaction() as db:
            grant = self._grant(db, call)
            return {"balance": str(self._balance(db, call.customer)), "granted": grant is not None and not grant[1]}

    def expected_after_undo(self, call: ConnectorCall) -> dict[str, Any]:
        with self.system.transaction() as db:
            grant = self._grant(db, call)
            own = Decimal(grant[0]) if grant is not None and not grant[1] else Decimal(0)
            return {"balance": str(self._balance(db, call.customer) - own), "granted": False}

    def drill_fixture(self) -> DrillFixture:
        return DrillFixture(customer="DRILL", params={"points": "50"})

    def _reasons(self, db: sqlite3.Connection, call: ConnectorCall, preconditions: Sequence[str]) -> list[str]:
        row = db.execute("SELECT active FROM member WHERE id = ?", (call.customer,)).fetchone()
        if row is None:
            return [f"{call.customer} is not a loyalty member"]
        return [f"{call.customer}'s account is closed"] if "member_active" in preconditions and not row[0] else []

    def _grant(self, db: sqlite3.Connection, call: ConnectorCall) -> tuple[str, int] | None:
        row = db.execute("SELECT points, undone FROM grant_ WHERE action_id = ?", (call.action_id,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def _balance(self, db: sqlite3.Connection, member: str) -> Decimal:
        rows = db.execute("SELECT points FROM grant_ WHERE member = ? AND undone = 0", (member,))
        return sum((Decimal(points) for (points,) in rows), Decimal(0))
