"""The drill ledger: every reversal drill's result, and the drill state decisions read (rule 5).

Kept on the audit chain, in the audit archive's database (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select

from cxgov.audit.append import RECORDS, append_chained, existing, lock_head
from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.tables import AuditRecordBase
from cxgov.policy import DrillState
from cxgov.wire import DrillResult


class DrillRun(BaseModel):
    """One recorded reversal drill."""

    drill_id: str
    action: str
    charter_version: int | None = None
    started: datetime
    finished: datetime
    passed: bool
    failing_step: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ActionDrills:
    """An action's drill record: its latest drill and its latest passing drill."""

    action: str
    latest: DrillRun | None
    last_pass: DrillRun | None


class DrillLedger:
    """Records drill results; answers "is this action's undo currently trusted?".

    The ledger is the audit chain: each result is a `drill_result` record appended under the chain's lock, and
    drill state is read back from those records. No separate row exists that an insider could edit to restore
    an action's autonomy: changing a record breaks the chain (`cxgov audit verify`).
    """

    def __init__(self, url: str) -> None:
        from cxgov.audit.store import AuditArchive

        AuditArchive(url).close()  # creates the chain's tables when missing
        self.database = ArchiveDatabase(url)
        self.engine = self.database.engine

    def close(self) -> None:
        self.database.close()

    def record(self, *, result: DrillResult) -> bool:
        """Store a drill result once (idempotent by drill id); False when it was already there."""
        source = f"{RESULT_KIND}:{result.drill_id}"
        detail = {
            "drill_id": result.drill_id,
            "started": to_db_time(result.started).isoformat(),
            "failing_step": result.failing_step,
        }
        record = AuditRecordBase(
            kind=RESULT_KIND,
            time=to_db_time(result.finished),
            source=source[:300],
            workflow_id=result.drill_id[:200],
            action=result.action,
            outcome="passed" if result.passed else "failed",
            reason=(result.reason or "")[:4000] or None,
            charter_version=result.charter_version,
            detail=json.dumps(detail, separators=(",", ":")),
        )
        with self.database.writing() as connection:
            head = lock_head(connection, dialect=self.database.dialect)
            if existing(connection, column="source", values=[record.source]):
                return False
            append_chained(connection, head=head, records=[record])
        return True

    def drills(self, *, action: str) -> ActionDrills:
        """The latest drill and the latest passing drill of `action`."""
        with self.database.reading() as connection:
            ordered = _results(action=action)
            latest = connection.execute(ordered.limit(1)).mappings().first()
            last_pass = connection.execute(ordered.where(RECORDS.c.outcome == "passed").limit(1)).mappings().first()
        return ActionDrills(
            action=action,
            latest=None if latest is None else _run(latest),
            last_pass=None if last_pass is None else _run(last_pass),
        )

    def history(self, *, action: str | None = None, limit: int = 20) -> list[DrillRun]:
        """The newest drills of `action` (of every action when None), newest first."""
        with self.database.reading() as connection:
            rows = connection.execute(_results(action=action).limit(limit)).mappings().all()
        return [_run(row) for row in rows]

    def between(self, *, start: datetime, end: datetime) -> list[DrillRun]:
        """Every drill that finished in [start, end), oldest first."""
        query = (
            select(RECORDS)
            .where(RECORDS.c.kind == RESULT_KIND, RECORDS.c.time >= to_db_time(start), RECORDS.c.time < to_db_time(end))
            .order_by(RECORDS.c.time, RECORDS.c.seq)
        )
        with self.database.reading() as connection:
            rows = connection.execute(query).mappings().all()
        return [_run(row) for row in rows]


RESULT_KIND = "drill_result"


def _results(*, action: str | None) -> Select[Any]:
    query = select(RECORDS).where(RECORDS.c.kind == RESULT_KIND)
    if action is not None:
        query = query.where(RECORDS.c.action == action)
    return query.order_by(RECORDS.c.time.desc(), RECORDS.c.seq.desc())


def _run(row: Mapping[Any, Any]) -> DrillRun:
    detail = json.loads(row["detail"])
    return DrillRun(
        drill_id=str(detail["drill_id"]),
        action=row["action"],
        charter_version=row["charter_version"],
        started=from_db_time(datetime.fromisoformat(detail["started"])),
        finished=from_db_time(row["time"]),
        passed=row["outcome"] == "passed",
        failing_step=detail.get("failing_step"),
        reason=row["reason"],
    )


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
