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

from sqlalchemy import URL
from sqlmodel import Session

from cxgov.sandbox.tables import SandboxTable
from cxgov.sqlite import sqlite_engines


class SandboxDatabase:
    """Sessions on the sandbox SQLite file, one short transaction each.

    Args:
        path: The SQLite file; it and its parent directory are created when missing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._engine, self._writer = sqlite_engines(URL.create("sqlite", database=str(path)))
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
