"""The quarterly review over an archive filled through the store's append API (runs with their history's first
event, approvals with their times): quarter bounds, counts, time to decide, refusals, breaks, gaps opened and
closed, overdue recertifications, overrides by kind, a self-contained HTML file, and `--quarter` errors."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli.clikit import child_env, run_subprocess
from governance.govkit import drill
from harness import REFERENCE_CHARTER

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import ArchivedRun, AuditRecordBase
from cxgov.charter import load_charter
from cxgov.drills.ledger import DrillLedger
from cxgov.errors import BadRequest
from cxgov.review import Quarter, Review, current_quarter, gather_review, parse_quarter
from cxgov.review_report import render_review

Q4 = Quarter(2026, 4)
IN_Q4 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_quarters_parse_and_bad_ones_name_the_problem() -> None:
    assert parse_quarter("2026Q4") == parse_quarter("2026-q4") == Q4
    assert (Q4.start, Q4.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert (Quarter(2027, 1).start, Quarter(2027, 1).end) == (
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 4, 1, tzinfo=UTC),
    )
    assert current_quarter(datetime(2026, 8, 31, tzinfo=UTC)) == Quarter(2026, 3)
    for bad in ("2026Q5", "Q4", "2026", "26Q4", "2026Q4x", ""):
        with pytest.raises(BadRequest, match="like 2026Q4"):
            parse_quarter(bad)


class Filler:
    """Archives runs the way the archiver does: one run (its history starts at the request) and its records."""

    def __init__(self, archive: AuditArchive) -> None:
        self.archive = archive
        self.runs = 0

    def action(
        self,
        *,
        at: datetime,
        status: str,
        actor: str = "support-bot",
        action: str = "refund",
        rule: str = "6-allow",
        gap: bool = False,
        approvals: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> str:
        self.runs += 1
        run_id, action_id = f"run-{self.runs}", f"action-00000000-0000-4000-8000-{self.runs:012d}"
        record = AuditRecordBase(
            kind="action",
            time=at,
            source=run_id,
            workflow_id=action_id,
            run_id=run_id,
            action_id=action_id,
            actor=actor,
            action=action,
            customer="C-100",
            channel="chat",
            outcome="deny" if status == "denied" else "allow",
            rule=rule,
            gap=gap,
            charter_version=3,
            approvals=json.dumps(approvals or []),
            status=status,
            detail=json.dumps({"error": error}),
        )
        requested = (at - timedelta(hours=3)).isoformat().replace("+00:00", ".123456789Z")
        history = json.dumps({"events": [{"eventId": "1", "eventTime": requested}]})
        run = ArchivedRun(
            run_id=run_id, workflow_id=action_id, workflow_type="action", closed_at=at, archived_at=at, history=history
        )
        assert self.archive.append_run(run=run, records=[record])
        return action_id

    def record(self, kind: str, *, at: datetime, **fields: Any) -> None:
        self.runs += 1
        assert self.archive.append_run(
            run=None, records=[AuditRecordBase(kind=kind, time=at, source=f"{kind}-{self.runs}", **fields)]
        )


def attempt(
    person: str, verdict: str, at: datetime, *, accepted: bool = True, refusal: str | None = None
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "person": person,
        "reason": "checked",
        "at": at.isoformat(),
        "accepted": accepted,
        "refusal": refusal,
    }


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[str, AuditArchive, DrillLedger]]:
    url = f"sqlite:///{tmp_path / 'home' / 'audit.db'}"
    archive, ledger = AuditArchive(url), DrillLedger(url)
    yield url, archive, ledger
    ledger.close()
    archive.close()


@pytest.fixture
def review(stores: tuple[str, AuditArchive, DrillLedger]) -> Review:
    url, archive, ledger = stores
    fill = Filler(archive)
    fill.action(at=Q4.start - timedelta(seconds=1), status="completed")  # the day before: not in the quarter
    fill.action(at=Q4.end, status="completed")  # the first moment after it: not in it either
    fill.action(at=Q4.start, status="completed")
    fill.action(at=IN_Q4, status="completed", approvals=[attempt("ana", "approve", IN_Q4 - timedelta(minutes=90))])
    fill.action(
        at=IN_Q4,
        status="denied",
        rule="5-approve-above",
        approvals=[
            attempt("omar", "approve", IN_Q4 - timedelta(hours=2), accepted=False, refusal="omar is not on step 1"),
            attempt("ben", "deny", IN_Q4 - timedelta(minutes=30)),
        ],
    )
    fill.action(at=IN_Q4, status="compensated", action="book_appointment", error="read-back failed")
    fill.action(at=IN_Q4, status="denied", actor="returns-sync", rule="4-channel")
    fill.action(
        at=IN_Q4, status="denied", actor="insights-partner", action="share_customer_data", rule="3-actor-not-certified"
    )
    # Gaps: close_account (never granted; seen before the quarter too), and a refund by a person, granted since
    # and not requested in the quarter's last 30 days.
    fill.action(at=Q4.start - timedelta(days=5), status="denied", action="close_account", rule="1-no-grant", gap=True)
    for day in (3, 40, 80):
        fill.action(
            at=Q4.start + timedelta(days=day), status="denied", action="close_account", rule="1-no-grant", gap=True
        )
    fill.action(
        at=Q4.start + timedelta(days=10), status="denied", actor="omar", action="refund", rule="1-no-grant", gap=True
    )
    fill.record(
        "reversal",
        at=IN_Q4,
        actor="farid",
        action="refund",
        status="reversal_failed",
        reversal_of="action-x",
        reasons=json.dumps(["restore not verified"]),
    )
    fill.record("reversal", at=IN_Q4, actor="farid", action="refund", status="reversed", reversal_of="action-y")
    fill.record("override", at=IN_Q4, actor="carla", action="refund", action_id="action-z", reason="customer outage")
    fill.record("frozen", at=Q4.start - timedelta(days=1), actor="carla", reason="before the quarter")
    drill(ledger, "refund", finished=IN_Q4, passed=False, step="verify_restored", reason="balance differs")
    drill(ledger, "refund", finished=IN_Q4 + timedelta(days=1))
    drill(ledger, "cancel_order", finished=Q4.start - timedelta(days=1), passed=False, step="execute", reason="old")
    return gather_review(
        charter=load_charter(REFERENCE_CHARTER), quarter=Q4, archive=archive, ledger=ledger, audit_url=url, now=NOW
    )


def test_actions_by_actor_and_outcome_count_only_the_quarter(review: Review) -> None:
    assert review.outcomes == {
        "support-bot": Counter(completed=2, denied=4, compensated=1),
        "returns-sync": Counter(denied=1),
        "insights-partner": Counter(denied=1),
        "omar": Counter(denied=1),
    }
    assert review.actions == 10
    assert [(seen.version, seen.decisions) for seen in review.versions] == [(3, 10)]


def test_approvals_time_to_decide_and_refusals(review: Review) -> None:
    accepted = sorted((d.person, d.verdict, d.minutes_after_request) for d in review.decided if d.accepted)
    # Requested 3 h before the close; ana approved at close - 90 min, ben denied at close - 30 min.
    # (The history's time has nanoseconds, .123456789: read to the microsecond.)
    assert [(person, verdict) for person, verdict, _ in accepted] == [("ana", "approve"), ("ben", "deny")]
    assert [minutes for _, _, minutes in accepted] == pytest.approx([90 - 0.123456 / 60, 150 - 0.123456 / 60])
    refused = [(d.person, d.refusal) for d in review.decided if not d.accepted]
    assert refused == [("omar", "omar is not on step 1")]


def test_breaks_are_compensations_failed_reversals_and_failed_drills(review: Review) -> None:
    kinds = Counter(found.kind for found in review.breaks)
    assert kinds == Counter({"compensated": 1, "reversal failed": 1, "drill failed": 1})
    assert any("read-back failed" in found.detail for found in review.breaks)
    assert any("balance differs" in found.detail for found in review.breaks)
    assert (review.reversals, review.drills_run) == (2, 2)


def test_gaps_opened_and_closed(review: Review) -> None:
    groups = {(group.actor, group.action): group for group in review.gaps}
    close = groups[("support-bot", "close_account")]
    assert (close.requests, close.opened_in_quarter, close.still_open) == (3, False, True)
    assert close.why == "still no grant in the live charter"
    person = groups[("omar", "refund")]  # tier1 is granted refunds: covered now, not hit lately
    assert (person.requests, person.opened_in_quarter, person.still_open) == (1, True, False)


def test_overdue_recertifications_and_overrides_by_kind(review: Review) -> None:
    assert [(o.actor, o.days_overdue, o.denied_requests) for o in review.overdue] == [("insights-partner", 214, 1)]
    assert [(i.kind, i.by, i.reason) for i in review.interventions] == [("override", "carla", "customer outage")]


def test_the_html_is_self_contained_and_shows_every_number(review: Review) -> None:
    html = render_review(review, audit_store="sqlite:///audit.db")
    assert html.count("<svg") == 5  # five charts, inlined
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only references inside the page (clip paths)
    for text in (
        "Governance review 2026Q4",
        "insights-partner",
        "omar is not on step 1",
        "customer outage",
        "balance differs",
        "longest",
        "150.0 minutes",
        "120.0 minutes",
        "still no grant in the live charter",
    ):
        assert text in html, text


def test_an_empty_archive_gives_a_review_that_says_so(tmp_path: Path) -> None:
    facts = gather_review(
        charter=load_charter(REFERENCE_CHARTER), quarter=Q4, archive=None, ledger=None, audit_url="sqlite:///x", now=NOW
    )
    html = render_review(facts, audit_store="sqlite:///x")
    assert "No actions archived in 2026Q4" in html and "None recorded." in html


def test_cxgov_review_as_a_process_and_a_bad_quarter(tmp_path: Path, review: Review) -> None:
    env = child_env({"CXGOV_HOME": str(tmp_path / "home"), "CXGOV_CHARTER": str(REFERENCE_CHARTER)})
    done = run_subprocess("review", "--quarter", "2026Q4", "-o", str(tmp_path / "q4.html"), env=env)
    assert done.code == 0, done.err
    assert (
        done.out.strip() == f"wrote {tmp_path / 'q4.html'}: review of 2026Q4, 10 action(s), 3 break(s), 2 gap group(s)"
    )
    assert "insights-partner" in (tmp_path / "q4.html").read_text()
    bad = run_subprocess("review", "--quarter", "2026Q7", env=env)
    assert bad.code == 2
    assert bad.err.strip() == "cxgov: --quarter '2026Q7': write a year and a quarter 1-4, like 2026Q4"
