"""Retention: purge the oldest records and leave an expiry receipt in the chain, so it still verifies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, delete, exists, func, or_, select

from cxgov.audit.append import RECORDS, RUNS, Head, append_chained
from cxgov.audit.chain import ReceiptLink, receipt_link, walk_chain
from cxgov.audit.database import STREAM_BATCH, from_db_time, to_db_time
from cxgov.audit.holds import ensure_hold_table, held_condition
from cxgov.audit.tables import AuditRecordBase
from cxgov.errors import CxgovError

RECEIPT_KIND = "expiry_receipt"


def load_receipts(connection: Connection) -> dict[int, ReceiptLink]:
    """The expiry receipts in the archive, by the last seq each one purged."""
    receipts: dict[int, ReceiptLink] = {}
    found = connection.execute(select(RECORDS.c.seq, RECORDS.c.detail).where(RECORDS.c.kind == RECEIPT_KIND))
    for seq, detail in found:
        link = receipt_link(seq=seq, detail=detail)
        if link is not None:
            receipts[link.purged_to_seq] = link
    return receipts


class ExpiryReceipt(BaseModel):
    """What one purge removed, as recorded by the `expiry_receipt` record it appended to the chain."""

    model_config = ConfigDict(frozen=True)

    seq: int
    """The receipt record's own seq."""
    hash: str
    """The receipt record's own hash."""
    time: datetime
    """When the purge ran."""
    before: datetime
    """The retention cutoff: only records older than this were purged."""
    purged_from_seq: int
    purged_to_seq: int
    count: int
    """How many records were purged (purged_to_seq - purged_from_seq + 1 unless some were already missing)."""
    oldest_time: datetime
    newest_time: datetime
    last_purged_hash: str
    """The hash of record `purged_to_seq`: the hash the first remaining record chains from."""
    runs_purged: int
    """How many archived run histories were deleted with their records."""


class RetentionStatus(BaseModel):
    """The archive against its retention policy."""

    model_config = ConfigDict(frozen=True)

    retention_days: int
    """The charter's `retention_days`."""
    cutoff: datetime
    """Records older than this are past retention."""
    oldest: datetime | None
    """The oldest record's time (None for an empty archive)."""
    count: int
    """How many records the archive holds."""
    expired: int
    """How many of them are past retention (the next purge removes those in the chain's old prefix)."""


def purge_prefix(connection: Connection, *, head: Head, before: datetime, now: datetime) -> ExpiryReceipt | None:
    """Purge the longest prefix of the chain whose records are all older than `before`; append its receipt.

    Records are archived in close to, not exactly, time order, so the purge stops at the first record (by
    seq) that is not old enough, or that is under a legal hold (`cxgov.audit.holds`); the rest go in a later
    purge. Call inside `ArchiveDatabase.writing`.

    Args:
        connection: A transaction holding the writer lock, in which `head` was read.
        head: The chain head as read under the lock.
        before: The retention cutoff.
        now: The purge's time (the receipt's time).

    Returns:
        The receipt, or None when the oldest record is not old enough (nothing was written).

    Raises:
        CxgovError: The records to purge do not verify (altered, missing, out of place); nothing is purged,
            so that retention never erases the evidence of tampering.
    """
    cutoff = to_db_time(before)
    ensure_hold_table(connection)
    held = held_condition(connection)
    kept = RECORDS.c.time >= cutoff if held is None else or_(RECORDS.c.time >= cutoff, held)
    first_kept = connection.execute(select(func.min(RECORDS.c.seq)).where(kept)).scalar()
    prefix = RECORDS.c.seq < first_kept if first_kept is not None else RECORDS.c.seq.is_not(None)
    stats = connection.execute(
        select(
            func.count(),
            func.min(RECORDS.c.seq),
            func.max(RECORDS.c.seq),
            func.min(RECORDS.c.time),
            func.max(RECORDS.c.time),
        ).where(prefix)
    ).one()
    count, from_seq, to_seq, oldest, newest = stats
    if not count:
        return None
    last_hash: str = connection.execute(select(RECORDS.c.hash).where(RECORDS.c.seq == to_seq)).scalar_one()
    # Purging a broken stretch of the chain would destroy the evidence; verify what is about to go first.
    doomed = connection.execute(
        select(RECORDS)
        .where(RECORDS.c.seq <= to_seq)
        .order_by(RECORDS.c.seq)
        .execution_options(stream_results=True, yield_per=STREAM_BATCH)
    )
    report = walk_chain(rows=doomed.mappings(), head=(to_seq, last_hash), receipts=load_receipts(connection))
    if not report.ok:
        raise CxgovError(f"retention purge refused, the records it would delete do not verify: {report.problem}")
    connection.execute(delete(RECORDS).where(RECORDS.c.seq <= to_seq))
    # A run's history goes once none of its records is left (a late record of it may still be kept).
    orphaned = delete(RUNS).where(RUNS.c.closed_at < cutoff, ~exists().where(RECORDS.c.run_id == RUNS.c.run_id))
    runs_purged = connection.execute(orphaned).rowcount
    detail = {
        "before": to_db_time(before).isoformat(),
        "purged_from_seq": from_seq,
        "purged_to_seq": to_seq,
        "count": count,
        "oldest_time": from_db_time(oldest).isoformat(),
        "newest_time": from_db_time(newest).isoformat(),
        "last_purged_hash": last_hash,
        "runs_purged": runs_purged,
    }
    receipt = AuditRecordBase(
        kind=RECEIPT_KIND,
        time=to_db_time(now),
        source=f"expiry-receipt:{from_seq}-{to_seq}",
        reason=f"retention: {count} records archived before {to_db_time(before).isoformat()} were purged",
        detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
    )
    new_head = append_chained(connection, head=head, records=[receipt])
    return ExpiryReceipt(
        seq=new_head.seq,
        hash=new_head.hash,
        time=to_db_time(now),
        before=to_db_time(before),
        purged_from_seq=from_seq,
        purged_to_seq=to_seq,
        count=count,
        oldest_time=from_db_time(oldest),
        newest_time=from_db_time(newest),
        last_purged_hash=last_hash,
        runs_purged=runs_purged,
    )


def retention_status(connection: Connection, *, retention_days: int, now: datetime) -> RetentionStatus:
    """Count the records and those past `retention_days` at `now`."""
    cutoff = to_db_time(now) - timedelta(days=retention_days)
    count, oldest = connection.execute(select(func.count(), func.min(RECORDS.c.time))).one()
    expired = connection.execute(select(func.count()).where(RECORDS.c.time < cutoff)).scalar_one()
    return RetentionStatus(
        retention_days=retention_days,
        cutoff=cutoff,
        oldest=None if oldest is None else from_db_time(oldest),
        count=count,
        expired=expired,
    )
