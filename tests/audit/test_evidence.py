"""Evidence that cannot be erased: the retention floor, legal holds, the chain over each archived history, and
the drill and budget ledgers kept on the chain, so that editing a row is caught by `verify`.

Every test runs on a real SQLite file (and on PostgreSQL when CXGOV_TEST_POSTGRES_URL is set); tampering goes
behind the archive's back, as an insider with the database's credentials would.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from harness import CHARTER, write_charter

from cxgov.audit.holds import HoldBook, hold_scope
from cxgov.audit.store import AuditArchive
from cxgov.budgets import BudgetLedger
from cxgov.charter import load_charter
from cxgov.charter.gaps import charter_gaps
from cxgov.charter.loader import read_charter
from cxgov.charter.models import Budget
from cxgov.charter.registry import CharterRegistry
from cxgov.drills.ledger import DrillLedger, stale_reason
from cxgov.errors import BadRequest, Denied, NotFound
from cxgov.settings import retention_floor_days
from cxgov.wire import DrillResult

if TYPE_CHECKING:
    from conftest import Backend, RunMaker

HOLD_ROLES = ("grants:                        # anything", "hold_roles: [finance-ops]\n\ngrants:  # anything")
"""farid (finance-ops) may release legal holds."""


# --- the retention floor ---------------------------------------------------------------------------------------


def test_a_charter_below_the_retention_floor_is_refused_and_the_floor_is_set_outside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CXGOV_RETENTION_FLOOR_DAYS", raising=False)
    assert retention_floor_days() == 365
    short = write_charter(tmp_path, ("retention_days: 2555", "retention_days: 90"))
    registry = CharterRegistry(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        problems = [problem.line for problem in registry.problems(read_charter(short), path=str(short))]
        assert any(
            "retention_days 90 is below the retention floor of 365 days (CXGOV_RETENTION_FLOOR_DAYS" in line
            for line in problems
        ), problems
        gaps = [gap for gap in charter_gaps(load_charter(short), today=datetime(2026, 12, 1).date())]
        assert [gap.kind for gap in gaps if gap.kind == "retention-floor"] == ["retention-floor"]

        monkeypatch.setenv("CXGOV_RETENTION_FLOOR_DAYS", "30")
        lowered = [problem.line for problem in registry.problems(read_charter(short), path=str(short))]
        assert not any("retention floor" in line for line in lowered)
        for bad in ("0", "-5", "a year", "3.5"):
            monkeypatch.setenv("CXGOV_RETENTION_FLOOR_DAYS", bad)
            with pytest.raises(BadRequest, match=r"CXGOV_RETENTION_FLOOR_DAYS=.* is not a whole number of days"):
                retention_floor_days()
    finally:
        registry.close()


# --- legal holds ------------------------------------------------------------------------------------------------


def test_retention_never_purges_held_records_until_the_hold_is_released(
    archive: AuditArchive, backend: Backend, make_run: RunMaker, t0: datetime, tmp_path: Path
) -> None:
    for n in range(1, 7):
        run, records = make_run(n, customer="C-200" if n == 3 else "C-100")
        archive.append_run(run=run, records=records)
    now = t0 + timedelta(days=400)
    holds = HoldBook(backend.url)
    try:
        kind, name = hold_scope(customer="C-200", actor=None)
        placed = holds.place(kind=kind, name=name, reason="case 2026-114", person="ana", via="key k1", now=now)
        assert [hold.id for hold in holds.holds()] == [placed.id]

        receipt = archive.purge(before=now, now=now)
        assert receipt is not None and (receipt.purged_from_seq, receipt.purged_to_seq) == (1, 2)
        kept = [record for record in archive.query() if record.kind == "action"]
        assert kept[0].customer == "C-200", "the purge stops at the first held record"
        assert archive.purge(before=now, now=now) is None
        assert archive.verify().ok

        charter = load_charter(write_charter(tmp_path, HOLD_ROLES))
        with pytest.raises(Denied, match=r"ana is not in the hold roles \(finance-ops: farid\)"):
            holds.release(hold_id=placed.id, charter=charter, reason="case closed", person="ana", via="k", now=now)
        with pytest.raises(Denied, match="names no hold_roles: nobody can release a legal hold"):
            holds.release(
                hold_id=placed.id, charter=load_charter(CHARTER), reason="x", person="farid", via="k", now=now
            )
        with pytest.raises(NotFound, match="no active legal hold 'hold-nope'"):
            holds.release(hold_id="hold-nope", charter=charter, reason="closed", person="farid", via="k", now=now)
        released = holds.release(
            hold_id=placed.id, charter=charter, reason="case closed", person="farid", via="key k2", now=now
        )
        assert (released.released_by, released.active, holds.holds()) == ("farid", False, [])

        after = archive.purge(before=now, now=now)
        assert after is not None and after.purged_from_seq == 3
        assert archive.verify().ok
        trail = [(r.kind, r.actor, r.reason) for r in archive.query() if r.kind.startswith("hold_")]
        assert trail == [("hold_placed", "ana", "case 2026-114"), ("hold_released", "farid", "case closed")]
        assert after.count == 4, "records 3-6, held until now, went with this purge"
    finally:
        holds.close()


def test_a_hold_names_one_scope_and_a_reason() -> None:
    with pytest.raises(BadRequest, match="name exactly one of --customer C or --actor A"):
        hold_scope(customer=None, actor=None)
    with pytest.raises(BadRequest, match="name exactly one of"):
        hold_scope(customer="C-1", actor="support-bot")
    assert hold_scope(customer=None, actor="support-bot") == ("actor", "support-bot")


# --- the chain covers each archived history ---------------------------------------------------------------------


def test_an_altered_or_deleted_history_fails_verify(
    archive: AuditArchive, backend: Backend, make_run: RunMaker
) -> None:
    for n in (1, 2, 3):
        run, records = make_run(n)
        records[0] = records[0].model_copy(update={"history_sha256": hashlib.sha256(run.history.encode()).hexdigest()})
        archive.append_run(run=run, records=records)
    assert archive.verify().ok

    backend.execute("UPDATE archived_run SET history = ? WHERE run_id = ?", '{"events": []}', "r-2")
    report = archive.verify()
    assert (report.ok, report.seq) == (False, 2)
    assert report.problem == "the history of run r-2 (record 2) was altered: it no longer matches its sha256"

    backend.execute("DELETE FROM archived_run WHERE run_id = ?", "r-2")
    assert archive.verify().problem == "the history of run r-2 (record 2) is missing (deleted)"


# --- ledgers on the chain ----------------------------------------------------------------------------------------


def drill(action: str, n: int, *, passed: bool, at: datetime) -> DrillResult:
    return DrillResult(
        drill_id=f"drill-{action}-{n}",
        action=action,
        charter_version=3,
        started=at - timedelta(seconds=3),
        finished=at,
        passed=passed,
        failing_step=None if passed else "verify_restored",
        reason=None if passed else "the booking was still there",
    )


def test_editing_a_drill_result_to_restore_autonomy_breaks_the_chain(
    archive: AuditArchive, backend: Backend, t0: datetime
) -> None:
    ledger = DrillLedger(backend.url)
    try:
        assert ledger.record(result=drill("refund", 1, passed=True, at=t0))
        assert ledger.record(result=drill("refund", 2, passed=False, at=t0 + timedelta(hours=1)))
        assert not ledger.record(result=drill("refund", 2, passed=False, at=t0 + timedelta(hours=1)))
        drills = ledger.drills(action="refund")
        assert drills.latest is not None and drills.last_pass is not None
        assert (drills.latest.drill_id, drills.last_pass.drill_id) == ("drill-refund-2", "drill-refund-1")
        assert stale_reason(drills, max_age=timedelta(days=90), now=t0 + timedelta(hours=2)) is not None
        assert archive.verify().ok

        # The insider marks the failed drill passed: decisions would trust the undo again, but verify sees it.
        backend.execute("UPDATE audit_record SET outcome = 'passed' WHERE source = ?", "drill_result:drill-refund-2")
        assert stale_reason(ledger.drills(action="refund"), max_age=timedelta(days=90), now=t0) is None
        report = archive.verify()
        assert report.ok is False and report.problem == "record 2 was altered: its contents no longer match its hash"
    finally:
        ledger.close()


def test_deleting_a_budget_reservation_to_refill_a_budget_breaks_the_chain(
    archive: AuditArchive, backend: Backend, t0: datetime
) -> None:
    budget = Budget(amount=Decimal("100"), per=timedelta(days=1))
    ledger = BudgetLedger(backend.url)
    try:
        for n, amount in enumerate(("60", "30"), start=1):
            assert (
                ledger.reserve(
                    action_id=f"a-{n}",
                    actor="support-bot",
                    action="refund",
                    amount=Decimal(amount),
                    budget=budget,
                    now=t0,
                )
                is None
            )
        refused = ledger.reserve(
            action_id="a-3", actor="support-bot", action="refund", amount=Decimal("20"), budget=budget, now=t0
        )
        assert refused == "budget exhausted: support-bot has used 90 of 100 in the rolling 1d; 20 more would exceed it"
        assert ledger.release(action_id="a-2", now=t0) and not ledger.release(action_id="a-2", now=t0)
        assert ledger.used(actor="support-bot", action="refund", budget=budget, now=t0) == (1, Decimal("60"))
        kinds = [(r.kind, r.action_id) for r in archive.query() if r.kind.startswith("budget_")]
        assert kinds == [("budget_reserved", "a-1"), ("budget_reserved", "a-2"), ("budget_released", "a-2")]
        assert archive.verify().ok

        backend.execute("DELETE FROM audit_record WHERE source = ?", "budget:a-1")
        assert ledger.used(actor="support-bot", action="refund", budget=budget, now=t0) == (0, Decimal(0))
        report = archive.verify()
        assert (
            report.ok is False
            and report.problem == "record 1 is missing (deleted) before record 2: no expiry receipt accounts for them"
        )
    finally:
        ledger.close()
