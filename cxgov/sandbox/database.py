"""The SQLite file behind the sandbox: one engine, short transactions, writers serialized by SQLite.

The sandbox is used at once from the worker's activity threads and from other processes (the CLI), so
races are left to the database: every write transaction starts with `BEGIN IMMEDIATE`, which takes the
file's write lock before the first read, so a read-check-write sequence cannot interleave with another
writer; readers use WAL snapshots and never wait for writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event
from sqlmodel import Session, create_engine

from cxgov.sandbox.tables import SandboxTable

BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "cxgov_sandbox_write"


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN would start transactions late (at the first write); take over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses nothing on a process crash, only on power loss: right for a sandbox.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_begin(connection: Connection) -> None:
    writes = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN DEFERRED")


class SandboxDatabase:
    """Sessions on the sandbox SQLite file, one short transaction each.

    Args:
        path: The SQLite file; it and its parent directory are created when missing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._engine = create_engine(
            URL.create("sqlite", database=str(path)),
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(self._engine, "connect", _on_connect)
        event.listen(self._engine, "begin", _on_begin)
        self._writer = self._engine.execution_options(**{_WRITE_OPTION: True})
        with self._writer.begin() as connection:
            SandboxTable.metadata.create_all(connection)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction over one consistent snapshot of the file."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction holding the file's write lock; commits on exit, rolls back on error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()
