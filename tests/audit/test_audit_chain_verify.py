"""verify: an intact chain passes; editing, deleting, reordering or forging records directly in the database
is reported, naming the first record concerned."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from auditkit import CHAINED as RECORDS

from cxgov.audit.store import AuditArchive, record_hash

if TYPE_CHECKING:
    from conftest import Backend, RecordMaker


def test_an_empty_archive_verifies(archive: AuditArchive) -> None:
    report = archive.verify()
    assert report.ok
    assert report.checked == 0
    assert report.problem is None


def test_an_intact_chain_verifies(chained: AuditArchive) -> None:
    report = chained.verify()
    assert (report.ok, report.checked, report.problem, report.seq) == (True, RECORDS, None, None)


@pytest.mark.parametrize(
    "change",
    [
        "actor = 'mallory'",
        'params = \'{"amount": "9999.00", "order_id": "O-17"}\'',
        "gap = NOT gap",
        "charter_version = 2",
        "reason = NULL",
        'approvals = \'[{"person": "bob"}]\'',
    ],
)
def test_an_edited_field_is_reported_as_altered(chained: AuditArchive, backend: Backend, change: str) -> None:
    backend.execute(f"UPDATE audit_record SET {change} WHERE seq = 17")

    report = chained.verify()
    assert not report.ok
    assert report.seq == 17
    assert report.problem == "record 17 was altered: its contents no longer match its hash"
    assert report.checked == 16


def test_an_edited_time_is_reported_as_altered(chained: AuditArchive, backend: Backend) -> None:
    ((time_3,),) = backend.execute("SELECT time FROM audit_record WHERE seq = 3")
    ((time_4,),) = backend.execute("SELECT time FROM audit_record WHERE seq = 4")
    backend.execute("UPDATE audit_record SET time = ? WHERE seq = 4", time_3)
    assert chained.verify().problem == "record 4 was altered: its contents no longer match its hash"

    backend.execute("UPDATE audit_record SET time = ? WHERE seq = 4", time_4)
    assert chained.verify().ok


def test_a_deleted_middle_record_is_reported_missing(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_record WHERE seq = 18")

    report = chained.verify()
    assert (report.ok, report.seq) == (False, 18)
    assert report.problem == "record 18 is missing (deleted) between records 17 and 19"


def test_several_deleted_records_are_reported_as_a_range(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_record WHERE seq BETWEEN 6 AND 9")
    report = chained.verify()
    assert report.seq == 6
    assert report.problem == "records 6-9 are missing (deleted) between records 5 and 10"


def test_the_deleted_newest_record_is_caught_by_the_head(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_record WHERE seq = 20")

    report = chained.verify()
    assert (report.ok, report.seq, report.checked) == (False, 20, 19)
    assert report.problem == (
        "record 20 is missing (deleted): the chain ends at record 19 but the newest archived record was 20"
    )


def test_the_deleted_first_record_is_reported_missing(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_record WHERE seq = 1")
    report = chained.verify()
    assert report.seq == 1
    assert report.problem == "record 1 is missing (deleted) before record 2: no expiry receipt accounts for them"


def test_every_record_deleted_is_reported(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_record")
    report = chained.verify()
    assert (report.ok, report.seq) == (False, 20)
    assert report.problem is not None
    assert "every record is missing (deleted)" in report.problem


def test_the_deleted_chain_head_is_reported(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("DELETE FROM audit_chain_head")
    report = chained.verify()
    assert not report.ok
    assert report.problem is not None
    assert "chain head is missing" in report.problem


def test_two_records_swapped_are_reported_out_of_place(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("UPDATE audit_record SET seq = -5 WHERE seq = 5")
    backend.execute("UPDATE audit_record SET seq = 5 WHERE seq = 6")
    backend.execute("UPDATE audit_record SET seq = 6 WHERE seq = -5")

    report = chained.verify()
    assert (report.ok, report.seq) == (False, 5)
    assert report.problem == (
        "record 5 is out of place: it was inserted or moved (neither its hash nor its link to record 4 matches)"
    )


def test_contents_swapped_between_two_records_are_reported_as_altered(chained: AuditArchive, backend: Backend) -> None:
    ((params_12,),) = backend.execute("SELECT params FROM audit_record WHERE seq = 12")
    ((params_13,),) = backend.execute("SELECT params FROM audit_record WHERE seq = 13")
    backend.execute("UPDATE audit_record SET params = ? WHERE seq = 12", params_13)
    backend.execute("UPDATE audit_record SET params = ? WHERE seq = 13", params_12)

    assert chained.verify().problem == "record 12 was altered: its contents no longer match its hash"


def test_a_relinked_record_is_reported_as_not_following(chained: AuditArchive, backend: Backend) -> None:
    # A forger who recomputes record 9's hash over a new previous hash still breaks its link to record 8.
    target = next(r for r in chained.query() if r.seq == 9)
    forged_hash = record_hash(seq=9, prev_hash="f" * 64, record=target)
    backend.execute("UPDATE audit_record SET prev_hash = ?, hash = ? WHERE seq = 9", "f" * 64, forged_hash)

    report = chained.verify()
    assert report.seq == 9
    assert report.problem == ("record 9 does not follow record 8: a record was inserted or the records were reordered")


def test_a_forged_record_appended_past_the_head_is_reported(
    chained: AuditArchive, backend: Backend, make_record: RecordMaker
) -> None:
    newest = next(r for r in chained.query() if r.seq == RECORDS)
    forged = make_record(21, actor="mallory")
    seq = RECORDS + 1
    values = {**forged.model_dump(), "seq": seq, "prev_hash": newest.hash}
    values["hash"] = record_hash(seq=seq, prev_hash=newest.hash, record=forged)
    backend.insert_record(values)

    report = chained.verify()
    assert (report.ok, report.seq) == (False, 21)
    assert report.problem == "record 21 was inserted after the newest archived record 20"


def test_a_forged_record_slipped_into_the_middle_is_reported(
    chained: AuditArchive, backend: Backend, make_record: RecordMaker
) -> None:
    before = next(r for r in chained.query() if r.seq == 9)
    backend.execute("UPDATE audit_record SET seq = seq + 1000 WHERE seq >= 10")
    backend.execute("UPDATE audit_record SET seq = seq - 999 WHERE seq >= 1010")
    forged = make_record(10, source="forged", actor="mallory")
    values = {**forged.model_dump(), "seq": 10, "prev_hash": before.hash}
    values["hash"] = record_hash(seq=10, prev_hash=before.hash, record=forged)
    backend.insert_record(values)
    backend.execute("UPDATE audit_chain_head SET seq = 21")

    report = chained.verify()
    assert (report.ok, report.seq) == (False, 10)
    assert report.problem == "record 10 was inserted: it is not part of the chain (record 11 follows record 9)"


def test_verify_reports_only_the_first_problem(chained: AuditArchive, backend: Backend) -> None:
    backend.execute("UPDATE audit_record SET actor = 'mallory' WHERE seq = 15")
    backend.execute("DELETE FROM audit_record WHERE seq = 3")
    assert chained.verify().seq == 3
