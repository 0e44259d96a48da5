"""Anchors: a head published outside the database catches a chain that someone with write access rewrote
from end to end (every hash and the head recomputed), which the chain alone cannot."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from auditkit import CHAINED as RECORDS

from cxgov.audit.chain import parse_anchor
from cxgov.audit.store import AuditArchive, record_hash

if TYPE_CHECKING:
    from conftest import Backend, RecordMaker, RunMaker


def anchors(*heads: str | None) -> dict[int, str]:
    parsed = [parse_anchor(head) for head in heads if head is not None]
    return dict(parsed)


def rewrite(archive: AuditArchive, backend: Backend, *, from_seq: int, actor: str) -> None:
    """Change one record's actor, then recompute every later hash and the head, as an insider could."""
    records = sorted(archive.query(), key=lambda record: record.seq)
    prev_hash = next(record.hash for record in records if record.seq == from_seq - 1)
    for record in records:
        if record.seq < from_seq:
            continue
        if record.seq == from_seq:
            record = record.model_copy(update={"actor": actor})
        new_hash = record_hash(seq=record.seq, prev_hash=prev_hash, record=record)
        backend.execute(
            "UPDATE audit_record SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            record.actor,
            prev_hash,
            new_hash,
            record.seq,
        )
        prev_hash = new_hash
    backend.execute("UPDATE audit_chain_head SET hash = ?", prev_hash)


def test_an_intact_chain_reports_its_head(chained: AuditArchive) -> None:
    newest = next(record for record in chained.query() if record.seq == RECORDS)

    report = chained.verify()

    assert report.head == f"{RECORDS}:{newest.hash}"
    assert (report.anchors_checked, report.anchors_purged) == (0, [])


def test_an_empty_archive_has_no_head(archive: AuditArchive) -> None:
    assert archive.verify().head is None


def test_a_rewritten_chain_passes_alone_and_fails_against_its_anchor(
    chained: AuditArchive, backend: Backend, make_record: RecordMaker
) -> None:
    early = next(record for record in chained.query() if record.seq == 3)
    published = chained.verify().head
    chained.append_run(run=None, records=[make_record(RECORDS + 1)])

    rewrite(chained, backend, from_seq=5, actor="mallory")

    alone = chained.verify()
    assert alone.ok, "the limit anchors exist for: a consistent rewrite verifies on its own"
    report = chained.verify(anchors=anchors(published, f"3:{early.hash}"))
    assert (report.ok, report.seq, report.head) == (False, RECORDS, None)
    assert report.problem == (
        f"record {RECORDS} does not match its anchor: the chain was rewritten up to record {RECORDS} or earlier"
    )
    assert report.checked == RECORDS - 1


def test_anchors_on_an_untouched_chain_all_match(chained: AuditArchive, make_record: RecordMaker) -> None:
    first = chained.verify().head
    chained.append_run(run=None, records=[make_record(RECORDS + 1)])
    second = chained.verify().head

    report = chained.verify(anchors=anchors(first, second))

    assert report.ok, report.problem
    assert report.anchors_checked == 2


def test_records_deleted_past_an_anchor_with_the_head_moved_back_are_caught(
    chained: AuditArchive, backend: Backend
) -> None:
    published = chained.verify().head
    ((hash_18,),) = backend.execute("SELECT hash FROM audit_record WHERE seq = 18")
    backend.execute("DELETE FROM audit_record WHERE seq > 18")
    backend.execute("UPDATE audit_chain_head SET seq = 18, hash = ?", hash_18)
    assert chained.verify().ok

    report = chained.verify(anchors=anchors(published))

    assert (report.ok, report.seq) == (False, RECORDS)
    assert report.problem == f"record {RECORDS}, which an anchor names, is missing: the chain now ends at record 18"


def test_anchors_on_purged_records_are_checked_through_the_receipt_or_reported(
    archive: AuditArchive, make_run: RunMaker, t0: datetime
) -> None:
    for hours in (1, 2, 3, 10):
        run, records = make_run(hours)
        archive.append_run(run=run, records=records)
    on_1 = next(record for record in archive.query() if record.seq == 1)
    on_3 = next(record for record in archive.query() if record.seq == 3)
    receipt = archive.purge(before=t0 + timedelta(hours=5), now=t0 + timedelta(days=400))
    assert receipt is not None and receipt.purged_to_seq == 3

    report = archive.verify(anchors=anchors(f"1:{on_1.hash}", f"3:{on_3.hash}"))
    assert report.ok, report.problem
    assert (report.anchors_checked, report.anchors_purged) == (1, [1])

    forged = archive.verify(anchors=anchors(f"3:{'0' * 64}"))
    assert (forged.ok, forged.seq) == (False, 3)
    assert forged.problem is not None and f"expiry receipt {receipt.seq} names another hash" in forged.problem


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("20", "an anchor is SEQ:HASH"),
        ("x:" + "a" * 64, "an anchor is SEQ:HASH"),
        ("0:" + "a" * 64, "an anchor is SEQ:HASH"),
        ("20:abc", "is not 64 hexadecimal digits"),
        ("20:" + "g" * 64, "is not 64 hexadecimal digits"),
    ],
)
def test_a_malformed_anchor_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_anchor(text)


def test_an_anchor_is_read_case_insensitively() -> None:
    assert parse_anchor(" 7:" + "AB" * 32 + " ") == (7, "ab" * 32)
