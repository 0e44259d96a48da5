"""`gap_report`: requests no rule covered (grouped), charter gaps, drills, recertification, archive lag."""

from __future__ import annotations

from datetime import timedelta

from govkit import NOW, Archived, drill

from cxgov.charter import Charter
from cxgov.drills.ledger import DrillLedger
from cxgov.gaps import gap_report

NO_ACTION = "unknown action 'close_account': charter acme-retail declares no such action"


def test_requests_no_rule_covered_are_grouped_with_counts_times_and_the_latest_example(
    charter: Charter, archived: Archived
) -> None:
    first = NOW - timedelta(days=2)
    archived.action(action="close_account", gap=True, at=first, reason="wants out", decision=NO_ACTION)
    archived.action(action="close_account", gap=True, at=NOW - timedelta(days=1), decision=NO_ACTION)
    latest = archived.action(
        action="close_account", gap=True, at=NOW - timedelta(hours=3), customer="C-200", reason="again", decision="x"
    )
    archived.action(actor="ana", action="refund", gap=True, at=NOW - timedelta(hours=5), decision="no grant")
    archived.action(action="refund")  # covered: not a gap
    archived.action(action="refund", refused_by=["omar"])  # a refused approval is not a gap either

    report = gap_report(charter, archive=archived.archive, ledger=None, now=NOW)

    groups = [(g.actor, g.action, g.count, g.first_seen, g.last_seen) for g in report.requests]
    assert groups == [
        ("support-bot", "close_account", 3, first, NOW - timedelta(hours=3)),
        ("ana", "refund", 1, NOW - timedelta(hours=5), NOW - timedelta(hours=5)),
    ]
    example = report.requests[0]
    assert (example.example_action_id, example.example_customer, example.example_reason) == (latest, "C-200", "again")
    assert example.example_decision == "x"
    assert report.requests[1].example_decision == "no grant"


def test_charter_gaps_and_recertification_are_each_listed_once(charter: Charter) -> None:
    report = gap_report(charter, archive=None, ledger=None, now=NOW)

    assert [(g.kind, g.subject) for g in report.charter_gaps] == [("no-reversal-owner", "action share_customer_data")]
    assert [(r.actor, r.kind, r.owner, r.recertify_by, r.days_overdue) for r in report.recertification] == [
        ("insights-partner", "integration", "ana", "2026-06-01", 179)
    ]
    assert report.requests == [] and report.notes == ["no audit archive yet: no requests recorded"]
    later = gap_report(charter, archive=None, ledger=None, now=NOW + timedelta(days=60))
    assert [r.actor for r in later.recertification] == ["returns-sync", "insights-partner"]


def test_drills_overdue_or_failing(charter: Charter, ledger: DrillLedger) -> None:
    drill(ledger, "refund", finished=NOW - timedelta(days=1))
    drill(ledger, "change_address", finished=NOW - timedelta(days=2))
    drill(ledger, "change_address", finished=NOW - timedelta(hours=1), passed=False, step="compensate", reason="boom")
    drill(ledger, "cancel_order", finished=NOW - timedelta(days=100))

    report = gap_report(charter, archive=None, ledger=ledger, now=NOW)

    found = {d.action: d for d in report.drills}
    assert set(found) == {"change_address", "cancel_order", "book_appointment"}
    assert found["change_address"].because == "the last drill failed at compensate"
    assert found["change_address"].last_failure == "boom"
    assert found["change_address"].last_pass == NOW - timedelta(days=2)
    assert found["cancel_order"].because == "last passed longer ago than drills.max_age (90d)"
    assert found["book_appointment"].because == "never drilled"
    assert found["book_appointment"].consequence == "every request is denied until a drill passes (no approval ladder)"
    assert "never been drilled" in found["book_appointment"].why


def test_archive_lag_is_a_gap_only_past_half_the_retention(charter: Charter) -> None:
    small = gap_report(charter, archive=None, ledger=None, now=NOW, lag=(timedelta(minutes=3), 2))
    assert small.archive_lag is not None and not small.archive_lag.gap
    assert (small.archive_lag.lag_seconds, small.archive_lag.unarchived) == (180.0, 2)
    assert small.findings == 1 + 4 + 1 + 4  # charter gap, 4 never-drilled actions, 1 overdue actor, 4 unsigned

    large = gap_report(charter, archive=None, ledger=None, now=NOW, lag=(timedelta(days=1278), 40))
    assert large.archive_lag is not None and large.archive_lag.gap
    assert large.findings == small.findings + 1
