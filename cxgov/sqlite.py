"""SQLite engines as cxgov uses them: WAL, a 30 s busy timeout, and writers that lock before they read.

Every store on a SQLite file (the sandbox, the audit archive and the ledgers next to it) is used at once
from worker threads and other processes. Write transactions start with `BEGIN IMMEDIATE`, which takes the
file's write lock before the first read, so a read-check-write cannot interleave with another writer;
readers use WAL snapshots and never wait. In WAL mode `synchronous=NORMAL` loses nothing on a process
crash, only the last commits on a power loss.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event

BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "cxgov_sqlite_write"


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN would start transactions late (at the first write); take over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_begin(connection: Connection) -> None:
    writes = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN DEFERRED")


def sqlite_engines(url: URL) -> tuple[Engine, Engine]:
    """A reading engine and a writing engine (same pool) on the SQLite file of `url`."""
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine, engine.execution_options(**{_WRITE_OPTION: True})
