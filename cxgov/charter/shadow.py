"""Shadow mode: a candidate charter decides every live request too, without enforcing anything.

`cxgov charter shadow FILE` registers a candidate (its text and sha256, and who started it). While one is
active, the authorize activity also decides each request against it, with no effect at all (no budget
reserved, nothing written to a system of record), and records the pair of decisions here. `shadow report`
groups the decisions the candidate would change (allow -> escalate, escalate -> deny, gap -> allow, ...) with
counts and examples, before anyone signs the candidate. `shadow stop` ends it.

Workers look the active candidate up through `ShadowGate`, at most once per `CHECK_TTL` second, so a worker
with no shadow pays one cached lookup per decision.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Text, UniqueConstraint, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.charter.loader import LoadedCharter, charter_from_text
from cxgov.errors import NotFound
from cxgov.wire import Decision

CHECK_TTL = 1.0
"""Seconds a worker reuses its answer to "is a shadow candidate active?"."""
EXAMPLES = 3
"""Examples shown per group in the report."""


class ShadowCandidate(SQLModel, table=True):
    """A candidate charter run in shadow, from `started_at` until `stopped_at`."""

    __tablename__ = "charter_shadow"

    id: int | None = Field(default=None, primary_key=True)
    charter: str = Field(max_length=100)
    version: int
    sha256: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    started_by: str = Field(max_length=100)
    started_at: datetime
    stopped_by: str | None = Field(default=None, max_length=100)
    stopped_at: datetime | None = None


class ShadowDecision(SQLModel, table=True):
    """One live request decided by the active charter and by the candidate."""

    __tablename__ = "charter_shadow_decision"
    __table_args__ = (UniqueConstraint("candidate_id", "action_id"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(index=True)
    action_id: str = Field(max_length=200)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    at: datetime
    live_outcome: str = Field(max_length=16)
    live_rule: str = Field(max_length=64)
    live_gap: bool = False
    shadow_outcome: str = Field(max_length=16)
    """The candidate's outcome, or `error` when the candidate could not decide (the live decision stands)."""
    shadow_rule: str = Field(max_length=64)
    shadow_gap: bool = False
    shadow_reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    changed: bool = Field(index=True)


class Candidate(BaseModel):
    """The candidate as `shadow` and `shadow report` show it."""

    id: int
    charter: str
    version: int
    sha256: str
    started_by: str
    started_at: datetime
    stopped_by: str | None = None
    stopped_at: datetime | None = None


class Example(BaseModel):
    action_id: str
    actor: str
    action: str
    at: datetime
    reasons: list[str]


class ChangeGroup(BaseModel):
    """Decisions the candidate would change the same way."""

    live: str
    """The live outcome (`gap` for a request no rule covered)."""
    shadow: str
    rule: str
    """The candidate's rule."""
    count: int
    examples: list[Example]


class ShadowReport(BaseModel):
    candidate: Candidate | None
    """The latest candidate (active when `stopped_at` is None), or None when none was ever started."""
    decided: int
    """Live requests the candidate decided too."""
    unchanged: int
    changed: list[ChangeGroup]


def shown_outcome(outcome: str, gap: bool) -> str:
    """An outcome as the report groups it: a request no rule covered is a `gap`, not only a deny."""
    return "gap" if gap else outcome


class ShadowLedger:
    """Candidates and their decisions, in the archive's database.

    Args:
        url: The database URL (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
    """

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        tables = [SQLModel.metadata.tables[name] for name in ("charter_shadow", "charter_shadow_decision")]
        with self.database.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=tables)

    def close(self) -> None:
        self.database.close()

    def start(self, loaded: LoadedCharter, *, person: str, now: datetime) -> Candidate:
        """Run `loaded` in shadow from now on, replacing any active candidate."""
        charter = loaded.charter
        with self.database.writing() as connection:
            connection.execute(
                update(ShadowCandidate)
                .where(col(ShadowCandidate.stopped_at).is_(None))
                .values(stopped_at=to_db_time(now), stopped_by=person)
            )
            connection.execute(
                ShadowCandidate.__table__.insert().values(  # type: ignore[attr-defined]
                    charter=charter.charter,
                    version=charter.version,
                    sha256=loaded.sha256,
                    text=loaded.text,
                    started_by=person,
                    started_at=to_db_time(now),
                )
            )
        found = self.latest()
        assert found is not None
        return found[0]

    def stop(self, *, person: str, now: datetime) -> Candidate:
        """Stop the active candidate.

        Raises:
            NotFound: No candidate is running.
        """
        found = self.active()
        if found is None:
            raise NotFound("no shadow candidate is running (start one with `cxgov charter shadow FILE`)")
        with self.database.writing() as connection:
            connection.execute(
                update(ShadowCandidate)
                .where(col(ShadowCandidate.id) == found[0].id)
                .values(stopped_at=to_db_time(now), stopped_by=person)
            )
        return found[0].model_copy(update={"stopped_at": now, "stopped_by": person})

    def latest(self) -> tuple[Candidate, str] | None:
        """The newest candidate and its text, running or not."""
        with self.database.reading() as connection:
            row = connection.execute(select(ShadowCandidate).order_by(col(ShadowCandidate.id).desc())).first()
        if row is None:
            return None
        stored = ShadowCandidate.model_validate(row._mapping)
        return _candidate(stored), stored.text

    def active(self) -> tuple[Candidate, str] | None:
        """The running candidate and its text, or None."""
        found = self.latest()
        return found if found is not None and found[0].stopped_at is None else None

    def record(
        self,
        *,
        candidate_id: int,
        action_id: str,
        actor: str,
        action: str,
        live: Decision,
        shadow: Decision | None,
        failure: str | None = None,
        now: datetime,
    ) -> None:
        """Record one request decided both ways (once per candidate and action id: a retried authorize is not
        counted twice). `shadow` None: the candidate could not decide, for the reason in `failure`."""
        outcome, rule = (shadow.outcome.value, shadow.rule) if shadow is not None else ("error", "shadow-error")
        gap = shadow.gap if shadow is not None else False
        reasons = shadow.reasons if shadow is not None else [failure or "the candidate could not decide"]
        changed = (outcome, gap) != (live.outcome.value, live.gap)
        try:
            with self.database.writing() as connection:
                connection.execute(
                    ShadowDecision.__table__.insert().values(  # type: ignore[attr-defined]
                        candidate_id=candidate_id,
                        action_id=action_id[:200],
                        actor=actor[:100],
                        action=action[:100],
                        at=to_db_time(now),
                        live_outcome=live.outcome.value,
                        live_rule=live.rule[:64],
                        live_gap=live.gap,
                        shadow_outcome=outcome,
                        shadow_rule=rule[:64],
                        shadow_gap=gap,
                        shadow_reasons=json.dumps(reasons),
                        changed=changed,
                    )
                )
        except IntegrityError:
            return

    def report(self) -> ShadowReport:
        """The latest candidate's changed decisions, grouped by (live -> shadow, candidate's rule), biggest first."""
        found = self.latest()
        if found is None:
            return ShadowReport(candidate=None, decided=0, unchanged=0, changed=[])
        candidate = found[0]
        with self.database.reading() as connection:
            counts = dict(
                connection.execute(
                    select(ShadowDecision.changed, func.count())
                    .where(col(ShadowDecision.candidate_id) == candidate.id)
                    .group_by(col(ShadowDecision.changed))
                ).all()
            )
            rows = connection.execute(
                select(ShadowDecision)
                .where(col(ShadowDecision.candidate_id) == candidate.id, col(ShadowDecision.changed))
                .order_by(col(ShadowDecision.id))
            ).all()
        groups: dict[tuple[str, str, str], ChangeGroup] = {}
        for row in rows:
            found_row = ShadowDecision.model_validate(row._mapping)
            live = shown_outcome(found_row.live_outcome, found_row.live_gap)
            shadow = shown_outcome(found_row.shadow_outcome, found_row.shadow_gap)
            key = (live, shadow, found_row.shadow_rule)
            group = groups.setdefault(key, ChangeGroup(live=live, shadow=shadow, rule=key[2], count=0, examples=[]))
            group.count += 1
            if len(group.examples) < EXAMPLES:
                group.examples.append(
                    Example(
                        action_id=found_row.action_id,
                        actor=found_row.actor,
                        action=found_row.action,
                        at=from_db_time(found_row.at),
                        reasons=json.loads(found_row.shadow_reasons),
                    )
                )
        changed = sorted(groups.values(), key=lambda group: (-group.count, group.live, group.shadow, group.rule))
        total = sum(counts.values())
        return ShadowReport(candidate=candidate, decided=total, unchanged=counts.get(False, 0), changed=changed)


class ShadowGate:
    """What a worker asks before each decision: the active candidate, looked up at most once per `CHECK_TTL`."""

    def __init__(self, ledger: ShadowLedger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()
        self._checked = -CHECK_TTL
        self._active: tuple[int, LoadedCharter] | None = None

    def active(self) -> tuple[int, LoadedCharter] | None:
        """The running candidate's id and charter, or None."""
        now = time.monotonic()
        if now - self._checked < CHECK_TTL:
            return self._active
        with self._lock:
            if now - self._checked >= CHECK_TTL:
                self._active = self._load()
                self._checked = time.monotonic()
            return self._active

    def _load(self) -> tuple[int, LoadedCharter] | None:
        found = self.ledger.active()
        if found is None:
            return None
        candidate, text = found
        if self._active is not None and self._active[0] == candidate.id:
            return self._active
        return candidate.id, charter_from_text(text, shown=f"shadow candidate {candidate.id}")


def _candidate(stored: ShadowCandidate) -> Candidate:
    assert stored.id is not None
    return Candidate(
        id=stored.id,
        charter=stored.charter,
        version=stored.version,
        sha256=stored.sha256,
        started_by=stored.started_by,
        started_at=from_db_time(stored.started_at),
        stopped_by=stored.stopped_by,
        stopped_at=from_db_time(stored.stopped_at) if stored.stopped_at is not None else None,
    )
