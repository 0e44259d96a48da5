"""Retention: a purge removes the chain's old prefix, writes an expiry receipt, and the chain still verifies;
tampering after a purge is still caught."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from cxgov.audit.store import AuditArchive
from cxgov.errors import CxgovError

if TYPE_CHECKING:
    from conftest import Backend, RecordMaker, RunMaker

# Hours after t0 of the records, in the order they are archived: close to time order, not exactly.
HOURS = [1, 2, 3, 10, 4, 11, 12]


@pytest.fixture
def now(t0: datetime) -> datetime:
    """When the purges run: long after every record."""
    return t0 + timedelta(days=400)


@pytest.fixture
def cutoff(t0: datetime) -> datetime:
    """The retention cutoff used by most tests: records at hours 1-4 are older."""
    return t0 + timedelta(hours=5)


@pytest.fixture
def aged(archive: AuditArchive, make_run: RunMaker) -> AuditArchive:
    for n in HOURS:
        run, records = make_run(n)
        archive.append_run(run=run, records=records)
    return archive


def test_a_purge_removes_exactly_the_old_prefix_and_writes_a_receipt(
    aged: AuditArchive, t0: datetime, now: datetime, cutoff: datetime
) -> None:
    last_purged = next(record for record in aged.query() if record.seq == 3)

    receipt = aged.purge(before=cutoff, now=now)

    assert receipt is not None
    assert (receipt.purged_from_seq, receipt.purged_to_seq, receipt.count) == (1, 3, 3)
    assert (receipt.oldest_time, receipt.newest_time) == (t0 + timedelta(hours=1), t0 + timedelta(hours=3))
    assert receipt.last_purged_hash == last_purged.hash
    assert (receipt.seq, receipt.time, receipt.runs_purged) == (8, now, 3)
    # Record 5 (hour 4) is old too, but record 4 (hour 10) before it is not: the prefix stops there.
    remaining = {record.seq: record for record in aged.query()}
    assert sorted(remaining) == [4, 5, 6, 7, 8]
    stored = remaining[8]
    assert (stored.kind, stored.time, stored.hash) == ("expiry_receipt", now, receipt.hash)
    detail = json.loads(stored.detail)
    assert {key: detail[key] for key in ("purged_from_seq", "purged_to_seq", "count")} == {
        "purged_from_seq": 1,
        "purged_to_seq": 3,
        "count": 3,
    }
    assert detail["last_purged_hash"] == last_purged.hash
    assert detail["oldest_time"].startswith("2026-01-01T10:00:00")
    report = aged.verify()
    assert report.ok, report.problem
    assert report.checked == 5


def test_purged_runs_go_with_their_records_and_kept_runs_stay(
    aged: AuditArchive, now: datetime, cutoff: datetime
) -> None:
    aged.purge(before=cutoff, now=now)
    assert aged.archived(run_ids=[f"r-{n}" for n in HOURS]) == {"r-10", "r-4", "r-11", "r-12"}


def test_a_run_with_a_kept_record_keeps_its_history(
    archive: AuditArchive, make_run: RunMaker, t0: datetime, now: datetime, cutoff: datetime
) -> None:
    run, records = make_run(1, refusals=1)
    records[1] = records[1].model_copy(update={"time": t0 + timedelta(hours=30)})
    archive.append_run(run=run, records=records)

    receipt = archive.purge(before=cutoff, now=now)
    assert receipt is not None
    assert (receipt.count, receipt.runs_purged) == (1, 0)
    assert archive.archived(run_ids=["r-1"]) == {"r-1"}
    assert archive.verify().ok


def test_nothing_old_enough_means_no_receipt_and_no_write(aged: AuditArchive, t0: datetime, now: datetime) -> None:
    assert aged.purge(before=t0, now=now) is None
    assert aged.count() == len(HOURS)
    assert aged.count(kind="expiry_receipt") == 0
    assert aged.verify().ok


def test_purge_after_purge_still_verifies(
    aged: AuditArchive, make_run: RunMaker, t0: datetime, now: datetime, cutoff: datetime
) -> None:
    first = aged.purge(before=cutoff, now=now)
    second = aged.purge(before=t0 + timedelta(hours=11, minutes=30), now=now + timedelta(days=1))

    assert first is not None
    assert second is not None
    assert (second.purged_from_seq, second.purged_to_seq, second.count) == (4, 6, 3)
    assert [record.seq for record in aged.query()] == [7, 8, 9]
    assert aged.verify().ok
    run, records = make_run(20)
    aged.append_run(run=run, records=records)
    assert aged.verify().ok


def test_purging_everything_leaves_a_verifiable_receipt(aged: AuditArchive, make_run: RunMaker, now: datetime) -> None:
    receipt = aged.purge(before=now, now=now)
    assert receipt is not None
    assert receipt.count == len(HOURS)
    assert [record.kind for record in aged.query()] == ["expiry_receipt"]
    assert aged.verify().ok

    again = aged.purge(before=now + timedelta(days=1), now=now + timedelta(days=1))  # the receipt itself expires
    assert again is not None
    assert (again.purged_from_seq, again.purged_to_seq) == (8, 8)
    run, records = make_run(30)
    aged.append_run(run=run, records=records)
    assert aged.verify().ok


def test_retention_status_counts_what_is_past_retention(
    aged: AuditArchive, t0: datetime, now: datetime, cutoff: datetime
) -> None:
    status = aged.retention_status(retention_days=365, now=t0 + timedelta(days=365, hours=5))
    assert (status.retention_days, status.count, status.expired) == (365, 7, 4)
    assert status.oldest == t0 + timedelta(hours=1)
    assert status.cutoff == cutoff

    aged.purge(before=status.cutoff, now=now)
    after = aged.retention_status(retention_days=365, now=t0 + timedelta(days=365, hours=5))
    assert (after.count, after.expired, after.oldest) == (5, 1, t0 + timedelta(hours=4))


def test_a_deleted_record_after_a_purge_is_caught(
    aged: AuditArchive, backend: Backend, now: datetime, cutoff: datetime
) -> None:
    aged.purge(before=cutoff, now=now)
    backend.execute("DELETE FROM audit_record WHERE seq = 4")

    report = aged.verify()
    assert (report.ok, report.seq) == (False, 4)
    assert report.problem == (
        "record 4 is missing (deleted) before record 5: the expiry receipts account only for records up to 3"
    )


def test_a_deleted_receipt_is_caught(aged: AuditArchive, backend: Backend, now: datetime, cutoff: datetime) -> None:
    aged.purge(before=cutoff, now=now)
    backend.execute("DELETE FROM audit_record WHERE kind = 'expiry_receipt'")
    backend.execute("UPDATE audit_chain_head SET seq = 7, hash = (SELECT hash FROM audit_record WHERE seq = 7)")

    report = aged.verify()
    assert (report.ok, report.seq) == (False, 1)
    assert report.problem == "records 1-3 are missing (deleted) before record 4: no expiry receipt accounts for them"


def test_an_edited_receipt_is_caught(aged: AuditArchive, backend: Backend, now: datetime, cutoff: datetime) -> None:
    aged.purge(before=cutoff, now=now)
    ((detail,),) = backend.execute("SELECT detail FROM audit_record WHERE seq = 8")
    backend.execute("UPDATE audit_record SET detail = ? WHERE seq = 8", detail.replace('"count":3', '"count":2'))

    assert aged.verify().problem == "record 8 was altered: its contents no longer match its hash"


def test_a_receipt_pointing_at_another_hash_is_caught(
    aged: AuditArchive, backend: Backend, now: datetime, cutoff: datetime
) -> None:
    receipt = aged.purge(before=cutoff, now=now)
    assert receipt is not None
    ((detail,),) = backend.execute("SELECT detail FROM audit_record WHERE seq = 8")
    backend.execute(
        "UPDATE audit_record SET detail = ? WHERE seq = 8", detail.replace(receipt.last_purged_hash, "e" * 64)
    )

    report = aged.verify()
    assert (report.ok, report.seq) == (False, 4)
    assert report.problem is not None
    assert report.problem.startswith("record 4 does not chain from the records purged before it")


def test_an_edit_after_a_purge_is_caught(
    aged: AuditArchive, backend: Backend, make_record: RecordMaker, now: datetime, cutoff: datetime
) -> None:
    aged.purge(before=cutoff, now=now)
    aged.append_run(run=None, records=[make_record(40)])
    backend.execute("UPDATE audit_record SET status = 'reversed' WHERE seq = 6")
    assert aged.verify().problem == "record 6 was altered: its contents no longer match its hash"


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit_record SET actor = 'mallory' WHERE seq = 2", "record 2 was altered"),
        ("DELETE FROM audit_record WHERE seq = 2", "record 2 is missing (deleted) between records 1 and 3"),
    ],
)
def test_a_purge_never_erases_evidence_of_tampering(
    aged: AuditArchive, backend: Backend, now: datetime, cutoff: datetime, tamper: str, problem: str
) -> None:
    backend.execute(tamper)

    with pytest.raises(CxgovError, match="retention purge refused") as refused:
        aged.purge(before=cutoff, now=now)

    assert problem in str(refused.value)
    assert aged.count(kind="expiry_receipt") == 0
    report = aged.verify()
    assert report.problem is not None
    assert report.problem.startswith(problem)
