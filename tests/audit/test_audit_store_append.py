"""Appending runs: each closed run is archived exactly once, chained after the last, even after a crash."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import IntegrityError

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import GENESIS

if TYPE_CHECKING:
    from conftest import Backend, RecordMaker, RunMaker


def test_appended_records_get_consecutive_seqs_chained_from_genesis(archive: AuditArchive, make_run: RunMaker) -> None:
    for n in (1, 2, 3):
        run, records = make_run(n, refusals=1)
        assert archive.append_run(run=run, records=records) is True

    stored = list(archive.query())
    assert [record.seq for record in stored] == [1, 2, 3, 4, 5, 6]
    assert stored[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(stored))
    assert [record.source for record in stored] == ["r-1", "r-1#1", "r-2", "r-2#1", "r-3", "r-3#1"]
    assert archive.verify().ok


def test_a_run_appended_twice_is_archived_once(archive: AuditArchive, make_run: RunMaker) -> None:
    run, records = make_run(1, refusals=2)
    assert archive.append_run(run=run, records=records) is True
    assert archive.append_run(run=run, records=records) is False

    assert archive.count() == 3
    assert archive.archived(run_ids=["r-1", "r-2"]) == {"r-1"}
    assert archive.verify().ok


def test_records_without_a_run_are_idempotent_by_their_first_source(
    archive: AuditArchive, make_record: RecordMaker
) -> None:
    records = [make_record(1, kind="drill", run_id=None), make_record(2, kind="drill", run_id=None)]
    assert archive.append_run(run=None, records=records) is True
    assert archive.append_run(run=None, records=records) is False
    assert archive.append_run(run=None, records=[]) is False
    assert archive.count(kind="drill") == 2


def test_a_record_already_archived_under_another_run_writes_nothing(
    archive: AuditArchive, make_run: RunMaker, make_record: RecordMaker
) -> None:
    run, records = make_run(1)
    archive.append_run(run=run, records=records)
    other, _ = make_run(2)

    with pytest.raises(IntegrityError):
        archive.append_run(run=other, records=[make_record(2), make_record(1)])

    assert archive.archived(run_ids=["r-2"]) == set()
    assert archive.count() == 1


def test_an_interrupted_sync_leaves_every_run_exactly_once(archive: AuditArchive, make_run: RunMaker) -> None:
    for n in range(1, 6):
        archive.append_run(run=make_run(n)[0], records=make_run(n)[1])
    run6, records6 = make_run(6, refusals=1)
    broken = [*records6, records6[1]]  # the crash: the second copy of r-6#1 violates the unique source

    with pytest.raises(IntegrityError):
        archive.append_run(run=run6, records=broken)

    assert archive.archived(run_ids=["r-6"]) == set()
    assert archive.count() == 5
    assert archive.verify().ok
    for n in range(1, 11):  # the next sync starts over from the top
        run, records = make_run(n, refusals=1 if n == 6 else 0)
        assert archive.append_run(run=run, records=records) is (n >= 6)

    stored = list(archive.query())
    assert [record.seq for record in stored] == list(range(1, 12))
    assert sorted(record.source for record in stored) == sorted([f"r-{n}" for n in range(1, 11)] + ["r-6#1"])
    assert archive.archived(run_ids=[f"r-{n}" for n in range(1, 11)]) == {f"r-{n}" for n in range(1, 11)}
    assert archive.verify().ok


def test_a_failure_inside_the_transaction_rolls_back_run_records_and_head(
    archive: AuditArchive, make_run: RunMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.append_run(run=make_run(1)[0], records=make_run(1)[1])
    import cxgov.audit.append as append_module

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("worker killed")

    # Crash after the run and its records are inserted, just before the chain head moves.
    monkeypatch.setattr(append_module, "update", crash)
    with pytest.raises(RuntimeError):
        archive.append_run(run=make_run(2)[0], records=make_run(2)[1])
    monkeypatch.undo()

    assert archive.archived(run_ids=["r-2"]) == set()
    assert archive.count() == 1
    assert archive.append_run(run=make_run(2)[0], records=make_run(2)[1]) is True
    assert [record.seq for record in archive.query()] == [1, 2]
    assert archive.verify().ok


def test_archived_last_closed_count_and_oldest(archive: AuditArchive, make_run: RunMaker, t0: datetime) -> None:
    assert archive.last_closed_at() is None
    assert archive.oldest() is None
    assert archive.count() == 0
    for n, actor in ((3, "support-bot"), (1, "ana"), (2, "support-bot")):
        run, records = make_run(n, actor=actor, refusals=1)
        archive.append_run(run=run, records=records)

    assert archive.last_closed_at() == t0 + timedelta(hours=3)
    assert archive.oldest() == t0 + timedelta(hours=1)
    assert archive.count(actor="support-bot") == 4
    assert archive.count(actor="support-bot", kind="action") == 2
    assert archive.count(action="refund", kind="approval_refused") == 3
    assert archive.archived(run_ids=iter(["r-1", "r-9", "r-3"])) == {"r-1", "r-3"}


def test_times_are_kept_in_utc_whatever_zone_they_come_in(
    archive: AuditArchive, make_record: RecordMaker, t0: datetime
) -> None:
    from datetime import timezone

    tokyo = (t0 + timedelta(hours=1)).astimezone(timezone(timedelta(hours=9)))
    naive_utc = (t0 + timedelta(hours=2)).replace(tzinfo=None)
    archive.append_run(run=None, records=[make_record(1, time=tokyo), make_record(2, time=naive_utc)])

    stored = list(archive.query())
    assert [record.time for record in stored] == [t0 + timedelta(hours=1), t0 + timedelta(hours=2)]
    assert all(record.time.utcoffset() == timedelta(0) for record in stored)
    assert archive.verify().ok


def test_bulk_append_chains_in_chunks_and_skips_what_is_archived(
    archive: AuditArchive, make_record: RecordMaker
) -> None:
    first = [make_record(n, run_id=None) for n in range(1, 26)]
    assert archive.append_records(records=first, chunk_size=10) == 25
    again = [make_record(n, run_id=None) for n in range(20, 41)]
    assert archive.append_records(records=iter(again), chunk_size=7) == 15

    assert [record.seq for record in archive.query()] == list(range(1, 41))
    assert archive.verify().ok


def test_reopening_keeps_the_chain(backend: Backend, make_run: RunMaker) -> None:
    with AuditArchive(backend.url) as first:
        first.append_run(run=make_run(1)[0], records=make_run(1)[1])
    with AuditArchive(backend.url) as second:
        second.append_run(run=make_run(2)[0], records=make_run(2)[1])
        assert [record.seq for record in second.query()] == [1, 2]
        assert second.verify().ok
