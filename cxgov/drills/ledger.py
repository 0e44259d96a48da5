"""The drill ledger: every reversal drill's result, and the drill state decisions read (rule 5).

Stored with sqlmodel in the audit archive's database (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Field, Session, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase
from cxgov.policy import DrillState
from cxgov.wire import DrillResult


class DrillRun(SQLModel, table=True):
    """One recorded reversal drill."""

    __tablename__ = "drill_run"

    id: int | None = Field(default=None, primary_key=True)
    drill_id: str = Field(max_length=200, unique=True)
    action: str = Field(max_length=100, index=True)
    charter_version: int | None = None
    started: datetime
    finished: datetime = Field(index=True)
    passed: bool
    failing_step: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=4000)


@dataclass(frozen=True)
class ActionDrills:
    """An action's drill record: its latest drill and its latest passing drill."""

    action: str
    latest: DrillRun | None
    last_pass: DrillRun | None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DrillLedger:
    """Records drill results; answers "is this action's undo currently trusted?"."""

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        self.engine = self.database.engine
        SQLModel.metadata.create_all(self.engine, tables=[SQLModel.metadata.tables["drill_run"]])

    def close(self) -> None:
        self.database.close()

    def record(self, *, result: DrillResult) -> bool:
        """Store a drill result once (idempotent by drill id); False when it was already there."""
        with Session(self.engine) as session:
            if session.exec(select(DrillRun).where(col(DrillRun.drill_id) == result.drill_id)).first() is not None:
                return False
            session.add(
                DrillRun(
                    drill_id=result.drill_id,
                    action=result.action,
                    charter_version=result.charter_version,
                    started=result.started,
                    finished=result.finished,
                    passed=result.passed,
                    failing_step=result.failing_step,
                    reason=(result.reason or "")[:4000] or None,
                )
            )
            session.commit()
            return True

    def drills(self, *, action: str) -> ActionDrills:
        """The latest drill and the latest passing drill of `action`."""
        with Session(self.engine) as session:
            ordered = select(DrillRun).where(col(DrillRun.action) == action).order_by(col(DrillRun.finished).desc())
            latest = session.exec(ordered.limit(1)).first()
            last_pass = session.exec(ordered.where(col(DrillRun.passed)).limit(1)).first()
            for run in (latest, last_pass):
                if run is not None:
                    run.started, run.finished = _utc(run.started), _utc(run.finished)
            return ActionDrills(action=action, latest=latest, last_pass=last_pass)

    def history(self, *, action: str, limit: int = 20) -> list[DrillRun]:
        with Session(self.engine) as session:
            query = select(DrillRun).where(col(DrillRun.action) == action).order_by(col(DrillRun.finished).desc())
            return list(session.exec(query.limit(limit)).all())


def stale_reason(drills: ActionDrills, *, max_age: timedelta, now: datetime) -> str | None:
    """Why the undo of this action is not trusted now (rule 5), or None when its last drill passed recently."""
    action, latest, last_pass = drills.action, drills.latest, drills.last_pass
    if latest is None:
        return f"the undo of {action} has never been drilled: untested, so a person approves"
    if not latest.passed:
        return (
            f"the last reversal drill of {action} failed at {latest.finished.isoformat(timespec='seconds')} "
            f"(step {latest.failing_step}: {latest.reason}); a person approves until a drill passes"
        )
    if last_pass is not None and now - last_pass.finished > max_age:
        return (
            f"the undo of {action} last passed a drill at {last_pass.finished.isoformat(timespec='seconds')}, "
            f"longer ago than drills.max_age ({max_age.days}d); a person approves until a drill passes"
        )
    return None


class DrillGate:
    """Drill state for decisions, read from the ledger and cached briefly so deciding stays cheap."""

    def __init__(
        self,
        ledger: DrillLedger,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ttl_seconds: float = 1.0,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ActionDrills]] = {}

    def state(self, *, action: str, max_age: timedelta) -> DrillState:
        """The drill state of `action` for rule 5."""
        now_mono = time.monotonic()
        with self._lock:
            cached = self._cache.get(action)
        if cached is None or now_mono - cached[0] > self.ttl_seconds:
            cached = (now_mono, self.ledger.drills(action=action))
            with self._lock:
                self._cache[action] = cached
        return DrillState(stale_reason=stale_reason(cached[1], max_age=max_age, now=self.clock()))

    def forget(self, action: str) -> None:
        """Drop the cached state of `action` (after a drill is recorded)."""
        with self._lock:
            self._cache.pop(action, None)
