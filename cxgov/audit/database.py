"""The database behind the audit archive: SQLite by default, PostgreSQL by URL, one writer at a time.

Every write takes the archive's single-writer lock before it reads the chain head, so that two writers
(threads of one worker, or the CLI and a worker in different processes) can never give out the same seq.
On SQLite the lock is the file's write lock (`BEGIN IMMEDIATE`); readers use WAL snapshots and never wait.
On PostgreSQL it is a transaction-scoped advisory lock, plus the chain head row read `FOR UPDATE`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Table, create_engine, inspect, make_url, text

from cxgov.errors import BadRequest
from cxgov.sqlite import sqlite_engines

STREAM_BATCH = 2_000
"""Rows fetched per round trip when streaming (a server-side cursor on PostgreSQL)."""
ADVISORY_LOCK_KEY = 0x0C0A_0D17_A5C1
"""pg_advisory_xact_lock key of the archive's writer lock (one per PostgreSQL database)."""


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL for an archive URL; PostgreSQL URLs are pointed at the psycopg (3) driver.

    Args:
        url: `sqlite:///<file>`, `postgresql://...`, `postgres://...` or `postgresql+psycopg://...`.

    Raises:
        BadRequest: For any other database.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BadRequest(
                "the audit archive needs a SQLite file (sqlite:///<file>), not an in-memory database", field="url"
            )
        return parsed
    raise BadRequest(
        f"audit archive URL {parsed.render_as_string(hide_password=True)!r} is not supported: "
        "use sqlite:///<file> or postgresql://user:password@host/database",
        field="url",
    )


def add_missing_columns(connection: Connection, table: Table) -> list[str]:
    """Add the nullable columns of `table` that an older database lacks (`create_all` never alters a table).

    Idempotent, and run under the archive's writer lock, so two processes opening one database cannot both
    add a column. Only nullable columns are ever added: a new field is optional by construction.

    Returns:
        The names of the columns added.
    """
    present = {column["name"] for column in inspect(connection).get_columns(table.name)}
    added = []
    for column in table.columns:
        if column.name in present or not column.nullable:
            continue
        kind = column.type.compile(dialect=connection.dialect)
        connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
        added.append(column.name)
    return added


def filter_text(value: str | None, *, option: str) -> str | None:
    """A text filter of the audit trail (`--actor`, `customer=`) as the archive can compare it.

    Raises:
        BadRequest: the value has control characters (NUL included), or bytes that are not UTF-8 text (a command
            line can pass them as lone surrogates; a database cannot compare them).
    """
    if value is None:
        return None
    if any(ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        shown = repr(value if len(value) <= 40 else f"{value[:40]}...")
        raise BadRequest(f"{option} {shown}: control characters or bytes that are not UTF-8 text", field=option)
    return value


def to_db_time(moment: datetime) -> datetime:
    """A time as the archive stores and compares it: UTC; a naive time is taken to be UTC already.

    Raises:
        BadRequest: the time is outside the years 1 to 9999 once in UTC (`0001-01-01T00:00+05:00`).
    """
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"{moment.isoformat()} is outside the years 1 to 9999 once in UTC") from None


def from_db_time(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive UTC, PostgreSQL the session's zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ArchiveDatabase:
    """Connections to the archive's database: read snapshots and locked write transactions.

    Args:
        url: The archive URL (see `normalize_url`). A SQLite file and its parent directory are created.
    """

    def __init__(self, url: str) -> None:
        parsed = normalize_url(url)
        self.dialect = "sqlite" if parsed.drivername == "sqlite" else "postgresql"
        if self.dialect == "sqlite":
            assert parsed.database is not None
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine, self._writer = sqlite_engines(parsed)
        else:
            self.engine = create_engine(parsed, pool_pre_ping=True)
            self._writer = self.engine
        # On SQLite, threads of one process queue here, in order, instead of polling the file's lock with the
        # busy handler's growing sleeps; other processes still meet at the file lock. PostgreSQL's lock waits.
        self._local_writer: AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext()
        )

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction over one consistent snapshot."""
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                # One snapshot for the whole transaction (READ COMMITTED takes one per statement), so that
                # verify sees the chain head and the records as of the same moment.
                connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with connection.begin():
                yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction holding the archive's single-writer lock; commits on exit, rolls back on error."""
        with self._local_writer, self._writer.connect() as connection, connection.begin():
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            yield connection

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
