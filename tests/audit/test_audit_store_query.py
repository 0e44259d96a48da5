"""Querying the archive by actor, customer, action, status, kind and time; exporting JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from cxgov.audit.store import AuditArchive, record_hash
from cxgov.audit.tables import AuditRecordBase, AuditRecordPublic
from cxgov.errors import BadRequest

if TYPE_CHECKING:
    from conftest import RecordMaker

# (n, actor, customer, action, status): n is also the record's hour after t0; appended in this order.
ROWS = [
    (5, "support-bot", "C-100", "refund", "completed"),
    (1, "ana", "C-200", "cancel_order", "denied"),
    (3, "support-bot", "C-200", "refund", "awaiting_approval"),
    (2, "support-bot", "C-100", "change_address", "completed"),
    (8, "billing-bot", "C-300", "refund", "reversed"),
    (4, "ana", "C-100", "refund", "completed"),
    (7, "support-bot", "C-300", "cancel_order", "compensated"),
]


@pytest.fixture
def filled(archive: AuditArchive, make_record: RecordMaker) -> AuditArchive:
    records = [
        make_record(n, actor=actor, customer=customer, action=action, status=status)
        for n, actor, customer, action, status in ROWS
    ]
    records.append(make_record(5, source="r-5#1", kind="approval_refused", status=None, detail='{"step": 1}'))
    archive.append_run(run=None, records=records)
    return archive


def hours(records: list[AuditRecordPublic], t0: datetime) -> list[int]:
    return [int((record.time - t0) / timedelta(hours=1)) for record in records]


def test_everything_comes_back_by_time_then_seq(filled: AuditArchive, t0: datetime) -> None:
    stored = list(filled.query())
    assert hours(stored, t0) == [1, 2, 3, 4, 5, 5, 7, 8]
    assert [record.seq for record in stored if record.time == t0 + timedelta(hours=5)] == [1, 8]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"actor": "support-bot"}, [2, 3, 5, 5, 7]),
        ({"actor": "ana"}, [1, 4]),
        ({"customer": "C-100"}, [2, 4, 5, 5]),
        ({"action": "refund"}, [3, 4, 5, 5, 8]),
        ({"status": "completed"}, [2, 4, 5]),
        ({"kind": "approval_refused"}, [5]),
        ({"actor": "support-bot", "customer": "C-300"}, [7]),
        ({"actor": "support-bot", "action": "refund", "status": "completed"}, [5]),
        ({"actor": "nobody"}, []),
    ],
)
def test_each_filter_narrows_the_records(
    filled: AuditArchive, filters: dict[str, str], expected: list[int], t0: datetime
) -> None:
    assert hours(list(filled.query(**filters)), t0) == expected


def test_since_is_inclusive_and_until_exclusive(filled: AuditArchive, t0: datetime) -> None:
    since, until = t0 + timedelta(hours=3), t0 + timedelta(hours=7)
    assert hours(list(filled.query(since=since)), t0) == [3, 4, 5, 5, 7, 8]
    assert hours(list(filled.query(until=until)), t0) == [1, 2, 3, 4, 5, 5]
    assert hours(list(filled.query(since=since, until=until)), t0) == [3, 4, 5, 5]
    assert hours(list(filled.query(actor="support-bot", since=since, until=until)), t0) == [3, 5, 5]


def test_limit_keeps_the_oldest(filled: AuditArchive, t0: datetime) -> None:
    assert hours(list(filled.query(actor="support-bot", limit=2)), t0) == [2, 3]


def test_a_query_sees_one_snapshot_even_if_records_arrive_while_it_is_read(
    filled: AuditArchive, make_record: RecordMaker
) -> None:
    reading = filled.query()
    first = next(reading)
    filled.append_run(run=None, records=[make_record(9)])
    assert [first.seq, *(record.seq for record in reading)] == [2, 4, 3, 6, 1, 8, 7, 5]
    assert filled.count() == 9


def test_json_lines_export_round_trips_exactly(filled: AuditArchive) -> None:
    out = io.StringIO()
    assert filled.export(records=filled.query(), format="json", out=out) == 8

    lines = out.getvalue().splitlines()
    assert len(lines) == 8
    assert all(json.loads(line)["params"].startswith("{") for line in lines)  # JSON text stays text
    back = [AuditRecordPublic.model_validate_json(line) for line in lines]
    assert back == list(filled.query())
    assert all(record_hash(seq=r.seq, prev_hash=r.prev_hash, record=r) == r.hash for r in back)


def test_csv_export_has_a_header_and_round_trips(filled: AuditArchive) -> None:
    out = io.StringIO(newline="")
    assert filled.export(records=filled.query(actor="support-bot"), format="csv", out=out) == 5

    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert list(rows[0])[:3] == ["seq", "kind", "time"]
    assert list(rows[0])[-2:] == ["prev_hash", "hash"]
    back = [AuditRecordPublic.model_validate({k: (v if v != "" else None) for k, v in row.items()}) for row in rows]
    assert back == list(filled.query(actor="support-bot"))
    assert all(record_hash(seq=r.seq, prev_hash=r.prev_hash, record=r) == r.hash for r in back)


def test_csv_quotes_commas_quotes_and_newlines_in_text(archive: AuditArchive, make_record: RecordMaker) -> None:
    reason = 'she said "refund it, now"\nsecond line'
    archive.append_run(run=None, records=[make_record(1, reason=reason)])
    out = io.StringIO(newline="")
    archive.export(records=archive.query(), format="csv", out=out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    assert row["reason"] == reason
    assert row["params"] == '{"amount": "1.00", "order_id": "O-1"}'


def test_an_empty_export_writes_only_the_csv_header(archive: AuditArchive) -> None:
    out = io.StringIO()
    assert archive.export(records=archive.query(), format="csv", out=out) == 0
    assert out.getvalue().count("\n") == 1
    empty = io.StringIO()
    assert archive.export(records=archive.query(), format="json", out=empty) == 0
    assert empty.getvalue() == ""


def test_an_unknown_export_format_is_bad_input(archive: AuditArchive) -> None:
    with pytest.raises(BadRequest, match="xml"):
        archive.export(records=[], format="xml", out=io.StringIO())  # type: ignore[arg-type]


def test_record_hash_covers_every_field_and_is_the_same_in_any_time_zone(make_record: RecordMaker) -> None:
    from datetime import timezone

    record = make_record(1)
    base = record_hash(seq=1, prev_hash="0" * 64, record=record)
    assert base == record_hash(seq=1, prev_hash="0" * 64, record=make_record(1))
    elsewhere = record.model_copy(update={"time": record.time.astimezone(timezone(timedelta(hours=-5)))})
    assert record_hash(seq=1, prev_hash="0" * 64, record=elsewhere) == base
    assert record_hash(seq=2, prev_hash="0" * 64, record=record) != base
    assert record_hash(seq=1, prev_hash="1" * 64, record=record) != base
    changed = {"gap": True, "charter_version": 4, "time": record.time + timedelta(microseconds=1), "reason": None}
    for name in AuditRecordBase.model_fields:
        value = changed.get(name, f"{getattr(record, name)}x")
        assert record_hash(seq=1, prev_hash="0" * 64, record=record.model_copy(update={name: value})) != base, name
