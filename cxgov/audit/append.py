"""Appending to the chain, inside a transaction that already holds the archive's single-writer lock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update
from sqlmodel import SQLModel

from cxgov.audit.chain import RECORD_FIELDS, hash_values
from cxgov.audit.database import to_db_time
from cxgov.audit.tables import GENESIS, ArchivedRun, AuditRecordBase

RECORDS: Table = SQLModel.metadata.tables["audit_record"]
RUNS: Table = SQLModel.metadata.tables["archived_run"]
HEAD: Table = SQLModel.metadata.tables["audit_chain_head"]
HEAD_ID = 1
IN_CHUNK = 500
"""How many values one `IN (...)` lookup carries (well under every database's parameter limit)."""


@dataclass(frozen=True)
class Head:
    """The newest record's seq and hash (seq 0 and `GENESIS` for an empty chain)."""

    seq: int
    hash: str


def lock_head(connection: Connection, *, dialect: str) -> Head:
    """Read the chain head for update, creating it when missing. Call inside `ArchiveDatabase.writing`."""
    statement = select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == HEAD_ID)
    if dialect == "postgresql":
        statement = statement.with_for_update()
    row = connection.execute(statement).first()
    if row is None:
        connection.execute(insert(HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS))
        return Head(seq=0, hash=GENESIS)
    return Head(seq=row.seq, hash=row.hash)


def record_values(record: AuditRecordBase) -> dict[str, Any]:
    """A record's fields as the archive stores them (times in UTC)."""
    values = {name: getattr(record, name) for name in RECORD_FIELDS}
    values["time"] = to_db_time(values["time"])
    return values


def append_chained(connection: Connection, *, head: Head, records: Iterable[AuditRecordBase]) -> Head:
    """Give each record the next seq, chain it to the one before, insert them all and move the head.

    Args:
        connection: A transaction holding the writer lock, in which `head` was read.
        head: The chain head as read under the lock.
        records: What to append, in order.

    Returns:
        The new head (unchanged when there was nothing to append).
    """
    rows: list[dict[str, Any]] = []
    seq, prev_hash = head.seq, head.hash
    for record in records:
        values = record_values(record)
        seq += 1
        values["seq"] = seq
        values["prev_hash"] = prev_hash
        values["hash"] = prev_hash = hash_values(seq=seq, prev_hash=prev_hash, values=values)
        rows.append(values)
    if not rows:
        return head
    connection.execute(insert(RECORDS), rows)
    connection.execute(update(HEAD).where(HEAD.c.id == HEAD_ID).values(seq=seq, hash=prev_hash))
    return Head(seq=seq, hash=prev_hash)


def insert_run(connection: Connection, *, run: ArchivedRun) -> None:
    """Store one closed run's full history (times in UTC)."""
    connection.execute(
        insert(RUNS).values(
            run_id=run.run_id,
            workflow_id=run.workflow_id,
            workflow_type=run.workflow_type,
            closed_at=to_db_time(run.closed_at),
            archived_at=to_db_time(run.archived_at),
            history=run.history,
        )
    )


def existing(connection: Connection, *, column: str, values: Sequence[str], table: Table = RECORDS) -> set[str]:
    """Which of `values` the table already holds in `column` (looked up in chunks)."""
    found: set[str] = set()
    target = table.c[column]
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        found.update(connection.execute(select(target).where(target.in_(chunk))).scalars())
    return found
