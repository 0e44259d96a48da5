"""The audit archive: closed workflow runs and their hash-chained records, appended once, queried, verified.

One `AuditArchive` per process is enough; it is safe to use from several threads, and several processes
may append to the same database at once: every append takes the archive's single-writer lock, so the
chain has exactly one record at each seq, each chained to the one before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, func, select
from sqlmodel import SQLModel

from cxgov.audit.append import HEAD, HEAD_ID, RECORDS, RUNS, append_chained, existing, insert_run, lock_head
from cxgov.audit.chain import ChainReport, record_hash, walk_chain
from cxgov.audit.database import (
    STREAM_BATCH,
    ArchiveDatabase,
    add_missing_columns,
    filter_text,
    from_db_time,
    to_db_time,
)
from cxgov.audit.export import ExportFormat, export_records
from cxgov.audit.retention import (
    ExpiryReceipt,
    RetentionStatus,
    load_receipts,
    purge_prefix,
    retention_status,
)
from cxgov.audit.tables import ArchivedRun, AuditRecordBase, AuditRecordPublic

APPEND_CHUNK = 5_000
"""Records per transaction in `append_records`."""

__all__ = [
    "AuditArchive",
    "ChainReport",
    "ExpiryReceipt",
    "ExportFormat",
    "GapGroup",
    "RetentionStatus",
    "record_hash",
]


_PUBLIC_FIELDS = set(AuditRecordPublic.model_fields)
"""Every field is set on a stored record (shared: pydantic only ever adds names to this set)."""


def _public(columns: Sequence[str], row: Sequence[Any]) -> AuditRecordPublic:
    """A record from a row of the archive's own, typed columns, without validation.

    This is what `model_construct` does, minus its per-field bookkeeping: validating or even constructing a
    million records the usual way would be most of an export's time.
    """
    values = dict(zip(columns, row, strict=True))
    values["time"] = from_db_time(values["time"])
    record: AuditRecordPublic = AuditRecordPublic.__new__(AuditRecordPublic)
    object.__setattr__(record, "__dict__", values)
    object.__setattr__(record, "__pydantic_fields_set__", _PUBLIC_FIELDS)
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


class AuditArchive:
    """The audit archive on SQLite (default) or PostgreSQL; creates its tables when missing.

    Args:
        url: `sqlite:///<file>` (the file and its directory are created) or a PostgreSQL URL
            (`postgresql://`, `postgres://` or `postgresql+psycopg://`; always driven by psycopg 3).

    Raises:
        BadRequest: For a URL of any other database.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = ArchiveDatabase(url)
        with self._db.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=[RECORDS, RUNS, HEAD])
            add_missing_columns(connection, RECORDS)
            lock_head(connection, dialect=self._db.dialect)

    def close(self) -> None:
        """Close every pooled connection."""
        self._db.close()

    def __enter__(self) -> AuditArchive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------------

    def append_run(self, *, run: ArchivedRun | None, records: Sequence[AuditRecordBase]) -> bool:
        """Archive one closed run and the records derived from it, in one transaction, exactly once.

        Args:
            run: The run's full history, or None for records that belong to no run.
            records: The records, in order; each gets the next seq and is chained to the one before.

        Returns:
            False, with nothing written, when the run id is already archived (or, with no run, when the
            first record's `source` is); True once the run and its records are committed.

        Raises:
            sqlalchemy.exc.IntegrityError: A record's `source` is already archived (under another run) or
                repeated; nothing was written.
        """
        if run is None and not records:
            return False
        with self._db.writing() as connection:
            head = lock_head(connection, dialect=self._db.dialect)
            if run is not None:
                if existing(connection, column="run_id", values=[run.run_id], table=RUNS):
                    return False
                insert_run(connection, run=run)
            elif existing(connection, column="source", values=[records[0].source]):
                return False
            append_chained(connection, head=head, records=records)
        return True

    def append_records(self, *, records: Iterable[AuditRecordBase], chunk_size: int = APPEND_CHUNK) -> int:
        """Append many records that belong to no run, a chunk per transaction (bulk loads, benchmarks).

        Records whose `source` is already archived are skipped, so a load that stopped half-way can be
        run again.

        Args:
            records: The records, in order (consumed a chunk at a time).
            chunk_size: Records per transaction.

        Returns:
            How many records were appended.
        """
        appended = 0
        iterator = iter(records)
        while chunk := list(islice(iterator, chunk_size)):
            with self._db.writing() as connection:
                head = lock_head(connection, dialect=self._db.dialect)
                known = existing(connection, column="source", values=[record.source for record in chunk])
                fresh = [record for record in chunk if record.source not in known]
                appended += append_chained(connection, head=head, records=fresh).seq - head.seq
        return appended

    def purge(self, *, before: datetime, now: datetime) -> ExpiryReceipt | None:
        """Purge the oldest records (the chain's longest prefix older than `before`) and write a receipt.

        The receipt is an `expiry_receipt` record appended to the chain; it names the purged range, its
        count and times, and the hash of the last purged record, so `verify` still passes. Archived runs
        closed before `before` whose records are all gone are deleted too.

        Args:
            before: The retention cutoff, e.g. `now - timedelta(days=charter.retention_days)`.
            now: The purge's time (the receipt's time).

        Returns:
            The receipt, or None when the oldest record is not old enough (nothing was written).

        Raises:
            CxgovError: The records to purge do not verify; nothing is purged (retention must not erase the
                evidence of tampering: `verify` names the problem).
        """
        with self._db.writing() as connection:
            head = lock_head(connection, dialect=self._db.dialect)
            return purge_prefix(connection, head=head, before=before, now=now)

    # --- reading -------------------------------------------------------------------------------------

    def archived(self, *, run_ids: Iterable[str]) -> set[str]:
        """Which of these run ids are already archived."""
        with self._db.reading() as connection:
            return existing(connection, column="run_id", values=list(run_ids), table=RUNS)

    def last_closed_at(self) -> datetime | None:
        """The close time of the most recently closed archived run (None when none is archived)."""
        with self._db.reading() as connection:
            latest = connection.execute(select(func.max(RUNS.c.closed_at))).scalar()
        return None if latest is None else from_db_time(latest)

    def oldest(self) -> datetime | None:
        """The oldest record's time (None for an empty archive)."""
        with self._db.reading() as connection:
            first = connection.execute(select(func.min(RECORDS.c.time))).scalar()
        return None if first is None else from_db_time(first)

    def count(self, *, actor: str | None = None, action: str | None = None, kind: str | None = None) -> int:
        """How many records match every filter given."""
        conditions = _equal(actor=actor, action=action, kind=kind)
        with self._db.reading() as connection:
            return int(connection.execute(select(func.count()).select_from(RECORDS).where(*conditions)).scalar_one())

    def gap_summary(self, *, rule: str | None = None) -> list[GapGroup]:
        """Requests no rule covered (`action` records with gap=true), grouped by actor and action; with `rule`,
        the requests that rule decided instead (`0-unauthenticated`: requests that skipped the front door).

        One GROUP BY for the counts and first/last times, then the latest record of each group as its example.

        Returns:
            The groups, most requests first (then by actor and action).
        """
        decided = RECORDS.c.gap.is_(True) if rule is None else RECORDS.c.rule == rule
        covered = [RECORDS.c.kind == "action", decided]
        count = func.count().label("requests")
        grouped = (
            select(RECORDS.c.actor, RECORDS.c.action, count, func.min(RECORDS.c.time), func.max(RECORDS.c.time))
            .where(*covered)
            .group_by(RECORDS.c.actor, RECORDS.c.action)
            .order_by(count.desc(), RECORDS.c.actor, RECORDS.c.action)
        )
        groups: list[GapGroup] = []
        with self._db.reading() as connection:
            for actor, action, requests, first, last in connection.execute(grouped).all():
                same = [_same(RECORDS.c.actor, actor), _same(RECORDS.c.action, action)]
                latest = select(RECORDS).where(*covered, *same).order_by(RECORDS.c.time.desc(), RECORDS.c.seq.desc())
                result = connection.execute(latest.limit(1))
                example = _public(tuple(result.keys()), result.one())
                groups.append(
                    GapGroup(
                        actor=actor,
                        action=action,
                        count=int(requests),
                        first_seen=from_db_time(first),
                        last_seen=from_db_time(last),
                        example=example,
                    )
                )
        return groups

    def query(
        self,
        *,
        actor: str | None = None,
        customer: str | None = None,
        action: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditRecordPublic]:
        """The records matching every filter given, by time then seq, streamed in batches.

        Memory stays constant however many rows match. The iterator holds a read transaction (one snapshot)
        until it is exhausted or closed.

        Args:
            actor: Only this actor's records.
            customer: Only records about this customer.
            action: Only this action's records.
            status: Only records with this status.
            kind: Only this kind (`action`, `reversal`, `approval_refused`, ..., `expiry_receipt`).
            since: Only records at or after this time (naive times are UTC).
            until: Only records before this time.
            limit: At most this many records.

        Raises:
            BadRequest: A text filter holds control characters or text that is not UTF-8 (nothing is read).
        """
        filters = {"actor": actor, "customer": customer, "action": action, "status": status, "kind": kind}
        conditions = _equal(**{name: filter_text(value, option=name) for name, value in filters.items()})
        if since is not None:
            conditions.append(RECORDS.c.time >= to_db_time(since))
        if until is not None:
            conditions.append(RECORDS.c.time < to_db_time(until))
        statement = select(RECORDS).where(*conditions).order_by(RECORDS.c.time, RECORDS.c.seq)
        if limit is not None:
            statement = statement.limit(limit)
        return self._stream(statement)

    def _stream(self, statement: Select[Any]) -> Iterator[AuditRecordPublic]:
        with self._db.reading() as connection:
            result = connection.execute(statement.execution_options(stream_results=True, yield_per=STREAM_BATCH))
            columns = tuple(result.keys())
            for row in result:
                yield _public(columns, row)

    def export(self, *, records: Iterable[AuditRecordPublic], format: ExportFormat, out: TextIO) -> int:
        """Stream records to `out` as JSON Lines or CSV; returns the row count (see `export_records`)."""
        return export_records(records=records, format=format, out=out)

    def verify(self, *, anchors: Mapping[int, str] | None = None) -> ChainReport:
        """Recompute the whole chain, by seq, and report the first altered, inserted or deleted record; then
        every archived history against the sha256 its record carries.

        Reads one snapshot, streaming; a purged prefix passes when the expiry receipt written by the purge
        accounts for it. `anchors` (hash by seq, from earlier reports' `head`) must all still match.
        """
        with self._db.reading() as connection:
            head_row = connection.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == HEAD_ID)).first()
            receipts = load_receipts(connection)
            chain = select(RECORDS).order_by(RECORDS.c.seq)
            rows = connection.execute(chain.execution_options(stream_results=True, yield_per=STREAM_BATCH))
            head = None if head_row is None else (head_row.seq, head_row.hash)
            report = walk_chain(rows=rows.mappings(), head=head, receipts=receipts, anchors=anchors)
            if not report.ok:
                return report
            problem = history_problem(connection)
        if problem is not None:
            return report.model_copy(update={"ok": False, "problem": problem[0], "seq": problem[1], "head": None})
        return report

    def retention_status(self, *, retention_days: int, now: datetime) -> RetentionStatus:
        """The archive against a retention policy: oldest record, count, and how many are past retention."""
        with self._db.reading() as connection:
            return retention_status(connection, retention_days=retention_days, now=now)


def history_problem(connection: Connection) -> tuple[str, int] | None:
    """The first record whose archived history is missing or no longer hashes to its `history_sha256`."""
    covered = (
        select(RECORDS.c.seq, RECORDS.c.run_id, RECORDS.c.history_sha256, RUNS.c.history)
        .select_from(RECORDS.outerjoin(RUNS, RUNS.c.run_id == RECORDS.c.run_id))
        .where(RECORDS.c.history_sha256.is_not(None))
        .order_by(RECORDS.c.seq)
    )
    rows = connection.execute(covered.execution_options(stream_results=True, yield_per=STREAM_BATCH))
    for seq, run_id, digest, history in rows:
        if history is None:
            return f"the history of run {run_id} (record {seq}) is missing (deleted)", seq
        if hashlib.sha256(history.encode()).hexdigest() != digest:
            return f"the history of run {run_id} (record {seq}) was altered: it no longer matches its sha256", seq
    return None


@dataclass(frozen=True)
class GapGroup:
    """Requests no rule covered, of one actor and action: how many, first and last seen, the latest as example."""

    actor: str | None
    action: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    example: AuditRecordPublic


def _same(column: ColumnElement[Any], value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _equal(**filters: str | None) -> list[ColumnElement[bool]]:
    return [RECORDS.c[name] == value for name, value in filters.items() if value is not None]
