"""The quarterly governance review: what the governance layer did in one quarter, read from the record.

Everything is read, nothing is estimated: the audit archive (actions, approvals and refusals, compensations,
reversals, gap requests, and override/freeze records once they exist), the drill ledger (failed drills) and
the live charter (sign-offs, recertification dates, which gaps it still leaves). `cxgov.review_report` draws
the charts and writes the HTML.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from cxgov.audit.database import ArchiveDatabase, from_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import ArchivedRun, AuditRecordPublic
from cxgov.charter import Charter, CharterGap, charter_gaps
from cxgov.charter.models import Signoff
from cxgov.drills.ledger import DrillLedger, DrillRun
from cxgov.errors import BadRequest

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
GAP_STILL_OPEN_DAYS = 30
"""A gap group requested within this many days of the quarter's end counts as still open."""
INTERVENTION_KINDS = ("override", "override_reviewed", "frozen", "unfrozen")
"""Audit record kinds of break-glass overrides (and their reviews) and of the kill switch (cxgov.overrides,
cxgov.killswitch)."""
BREAK_STATUSES = {"compensated": "compensated", "compensation_failed": "compensation failed"}
FAILED_REVERSAL_STATUSES = frozenset({"reversal_failed", "failed"})
NOT_CERTIFIED_RULE = "3-actor-not-certified"


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter in UTC: `2026Q4` is 2026-10-01 00:00 up to (not including) 2027-01-01 00:00."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, 3 * self.number - 2, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the quarter."""
        return (
            datetime(self.year + 1, 1, 1, tzinfo=UTC)
            if self.number == 4
            else datetime(self.year, 3 * self.number + 1, 1, tzinfo=UTC)
        )


def parse_quarter(text: str) -> Quarter:
    """`2026Q4` (also `2026-Q4`, `2026q4`) as a Quarter; BadRequest naming the problem otherwise."""
    found = _QUARTER.match(text)
    if found is None:
        raise BadRequest(f"--quarter {text!r}: write a year and a quarter 1-4, like 2026Q4", field="quarter")
    year = int(found.group(1))
    if not 2000 <= year <= 2999:
        raise BadRequest(f"--quarter {text!r}: the year {year} is outside 2000-2999", field="quarter")
    return Quarter(year=year, number=int(found.group(2)))


def current_quarter(now: datetime) -> Quarter:
    return Quarter(year=now.year, number=(now.month - 1) // 3 + 1)


@dataclass(frozen=True)
class VersionSeen:
    """A charter version that decided requests in the quarter."""

    version: int | None
    decisions: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Decided:
    """One approval attempt: granted or refused, and (when known) how long after the request it came."""

    action_id: str
    person: str
    verdict: str
    accepted: bool
    at: datetime
    refusal: str | None
    minutes_after_request: float | None


@dataclass(frozen=True)
class Break:
    """Something that did not go as governed: a compensation, a failed reversal, a failed drill."""

    kind: str
    at: datetime
    subject: str
    detail: str


@dataclass(frozen=True)
class GapGroup:
    """Requests no rule covered, of one actor and action, in the quarter, and whether the gap is still open."""

    actor: str
    action: str
    requests: int
    first_seen: datetime
    last_seen: datetime
    opened_in_quarter: bool
    still_open: bool
    why: str


@dataclass(frozen=True)
class OverdueActor:
    actor: str
    owner: str
    due: date
    days_overdue: int
    """At the quarter's end (or today, for the running quarter)."""
    denied_requests: int


@dataclass(frozen=True)
class Intervention:
    kind: str
    at: datetime
    by: str
    scope: str
    reason: str


@dataclass
class Review:
    """The quarter's facts, each section from its source."""

    quarter: Quarter
    charter: str
    charter_version: int
    signoffs: list[Signoff]
    generated_at: datetime
    versions: list[VersionSeen] = field(default_factory=list)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    """Actor -> status -> actions."""
    decided: list[Decided] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    gaps: list[GapGroup] = field(default_factory=list)
    charter_gaps: list[CharterGap] = field(default_factory=list)
    overdue: list[OverdueActor] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    reversals: int = 0
    drills_run: int = 0

    @property
    def actions(self) -> int:
        return sum(sum(counts.values()) for counts in self.outcomes.values())

    @property
    def statuses(self) -> list[str]:
        """Every status seen, most frequent first."""
        total: Counter[str] = Counter()
        for counts in self.outcomes.values():
            total.update(counts)
        return [status for status, _ in total.most_common()]


def gather_review(
    *,
    charter: Charter,
    quarter: Quarter,
    archive: AuditArchive | None,
    ledger: DrillLedger | None,
    audit_url: str,
    now: datetime,
) -> Review:
    """Read the quarter's facts (an archive or ledger of None: nothing archived yet, every count is zero)."""
    review = Review(
        quarter=quarter,
        charter=charter.charter,
        charter_version=charter.version,
        signoffs=list(charter.signoffs),
        generated_at=now,
        charter_gaps=charter_gaps(charter, today=min(quarter.end, now).date()),
    )
    denied_uncertified: Counter[str] = Counter()
    gap_records: list[AuditRecordPublic] = []
    action_records: list[AuditRecordPublic] = []
    if archive is not None:
        for record in archive.query(since=quarter.start, until=quarter.end):
            if record.kind == "action":
                action_records.append(record)
                _count_action(review, record)
                if record.gap:
                    gap_records.append(record)
                if record.rule == NOT_CERTIFIED_RULE and record.actor:
                    denied_uncertified[record.actor] += 1
            elif record.kind == "reversal":
                review.reversals += 1
                if record.status in FAILED_REVERSAL_STATUSES:
                    review.breaks.append(_break("reversal failed", record, record.reversal_of or "?"))
        review.versions = charter_versions_seen(action_records)
        review.decided = approvals_decided(action_records, request_times(audit_url, action_records))
        review.gaps = gap_groups(charter, gap_records, archive=archive, quarter=quarter)
        review.interventions = interventions(archive, quarter=quarter)
    if ledger is not None:
        runs = drills_in(ledger, quarter=quarter)
        review.drills_run = len(runs)
        review.breaks += [
            Break("drill failed", from_db_time(run.finished), run.action, f"step {run.failing_step}: {run.reason}")
            for run in runs
            if not run.passed
        ]
    review.breaks.sort(key=lambda found: found.at)
    review.overdue = overdue_actors(charter, quarter=quarter, now=now, denied=denied_uncertified)
    return review


def _count_action(review: Review, record: AuditRecordPublic) -> None:
    actor = record.actor or "(unknown)"
    review.outcomes.setdefault(actor, Counter())[record.status or "unknown"] += 1
    if record.status in BREAK_STATUSES:
        review.breaks.append(_break(BREAK_STATUSES[record.status], record, record.action_id or "?"))


def _break(kind: str, record: AuditRecordPublic, subject: str) -> Break:
    reasons = json.loads(record.reasons or "[]")
    error = json.loads(record.detail or "{}").get("error")
    detail = "; ".join(str(reason) for reason in [error, *reasons] if reason) or kind
    return Break(kind, record.time, f"{subject} ({record.actor} {record.action})", detail)


def charter_versions_seen(records: Iterable[AuditRecordPublic]) -> list[VersionSeen]:
    """The charter versions that decided the quarter's actions, with counts and first/last use.

    Extend here once loaded charter versions are recorded (`cxgov charter history`): their load times, sha256
    and signatures belong beside the versions the decisions carry.
    """
    seen: dict[int | None, list[datetime]] = defaultdict(list)
    for record in records:
        seen[record.charter_version].append(record.time)
    return sorted(
        (
            VersionSeen(version=version, decisions=len(times), first_seen=min(times), last_seen=max(times))
            for version, times in seen.items()
        ),
        key=lambda found: found.first_seen,
    )


def request_times(url: str, records: Iterable[AuditRecordPublic]) -> dict[str, datetime]:
    """When each action with an approval attempt was requested: its run's first event, from the archived history."""
    wanted = [record.run_id for record in records if record.run_id and record.approvals not in ("", "[]")]
    if not wanted:
        return {}
    found: dict[str, datetime] = {}
    database = ArchiveDatabase(url)
    try:
        with Session(database.engine) as session:
            query = select(col(ArchivedRun.run_id), col(ArchivedRun.history)).where(col(ArchivedRun.run_id).in_(wanted))
            for run_id, history in session.execute(query):
                started = _first_event_time(history)
                if started is not None:
                    found[run_id] = started
    finally:
        database.close()
    return found


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _first_event_time(history: str) -> datetime | None:
    try:
        events = json.loads(history).get("events") or []
        stamp = events[0]["eventTime"]
        return datetime.fromisoformat(_FRACTION.sub(r"\1", stamp).replace("Z", "+00:00"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def approvals_decided(records: Iterable[AuditRecordPublic], requested: dict[str, datetime]) -> list[Decided]:
    """Every approval attempt on the quarter's actions, granted or refused, with minutes after the request."""
    decided = []
    for record in records:
        start = requested.get(record.run_id or "")
        for attempt in json.loads(record.approvals or "[]"):
            at = datetime.fromisoformat(attempt["at"])
            at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            decided.append(
                Decided(
                    action_id=record.action_id or "?",
                    person=attempt["person"],
                    verdict=attempt["verdict"],
                    accepted=bool(attempt["accepted"]),
                    at=at,
                    refusal=attempt.get("refusal"),
                    minutes_after_request=(at - start).total_seconds() / 60 if start is not None else None,
                )
            )
    return decided


def gap_groups(
    charter: Charter, records: list[AuditRecordPublic], *, archive: AuditArchive, quarter: Quarter
) -> list[GapGroup]:
    """The quarter's gap requests grouped by actor and action: opened in the quarter (no gap request of the group
    before it) and still open (requested in its last 30 days, or still not granted by the live charter)."""
    first_ever = {(group.actor, group.action): group.first_seen for group in archive.gap_summary()}
    grouped: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for record in records:
        grouped[(record.actor or "(unknown)", record.action or "(unknown)")].append(record.time)
    recent = quarter.end - timedelta(days=GAP_STILL_OPEN_DAYS)
    groups = []
    for (actor, action), times in grouped.items():
        uncovered = not _granted(charter, actor=actor, action=action)
        lately = max(times) >= recent
        why = (
            "still no grant in the live charter"
            if uncovered
            else (
                f"requested in the last {GAP_STILL_OPEN_DAYS} days" if lately else "granted now, not requested lately"
            )
        )
        groups.append(
            GapGroup(
                actor=actor,
                action=action,
                requests=len(times),
                first_seen=min(times),
                last_seen=max(times),
                opened_in_quarter=first_ever.get((actor, action), min(times)) >= quarter.start,
                still_open=uncovered or lately,
                why=why,
            )
        )
    return sorted(groups, key=lambda group: (-group.requests, group.actor, group.action))


def _granted(charter: Charter, *, actor: str, action: str) -> bool:
    person = charter.people.get(actor)
    if action not in charter.actions or (actor not in charter.actors and person is None):
        return False
    roles = person.roles if person is not None else []
    return charter.grant_for(actor=actor, roles=roles, action=action) is not None


def interventions(archive: AuditArchive, *, quarter: Quarter) -> list[Intervention]:
    """Overrides, their reviews, freezes and unfreezes recorded in the quarter, in time order."""
    found = []
    for kind in INTERVENTION_KINDS:
        for record in archive.query(kind=kind, since=quarter.start, until=quarter.end):
            if kind in ("frozen", "unfrozen"):
                scope = str(json.loads(record.detail).get("scope", "?")).replace(":", " ")
            else:
                scope = " ".join(part for part in (record.action_id, record.action, record.customer) if part)
            found.append(Intervention(kind, record.time, record.actor or "?", scope, record.reason or ""))
    return sorted(found, key=lambda item: item.at)


def drills_in(ledger: DrillLedger, *, quarter: Quarter) -> list[DrillRun]:
    """Every drill that finished in the quarter."""
    return ledger.between(start=quarter.start, end=quarter.end)


def overdue_actors(charter: Charter, *, quarter: Quarter, now: datetime, denied: Counter[str]) -> list[OverdueActor]:
    """Actors whose recertification date passed before the quarter's end (or today, for the running quarter)."""
    end = min(quarter.end, now).date()
    return [
        OverdueActor(
            actor=name,
            owner=actor.owner,
            due=actor.recertify_by,
            days_overdue=(end - actor.recertify_by).days,
            denied_requests=denied[name],
        )
        for name, actor in charter.actors.items()
        if actor.recertify_by < end
    ]
