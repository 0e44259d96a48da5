"""Fixtures for the audit archive tests: every test runs on a real SQLite file, and on PostgreSQL as well
when CXGOV_TEST_POSTGRES_URL is set (each test in a fresh schema, dropped afterwards)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from auditkit import CHAINED

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import ArchivedRun, AuditRecordBase

POSTGRES_URL = os.environ.get("CXGOV_TEST_POSTGRES_URL") or None
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
"""The first synthetic record's time; the others follow an hour apart unless a test says otherwise."""

RecordMaker = Callable[..., AuditRecordBase]
RunMaker = Callable[..., tuple[ArchivedRun, list[AuditRecordBase]]]


@dataclass
class Backend:
    """Where a test's archive lives, and a way to reach its tables directly, behind the archive's back."""

    name: str
    url: str
    sqlite_path: Path | None = None
    schema: str | None = None

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement (placeholders written `?`) in its own committed transaction; rows it returns."""
        if self.sqlite_path is not None:
            connection = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
            try:
                return connection.execute(sql, [_sqlite_value(value) for value in params]).fetchall()
            finally:
                connection.close()
        assert POSTGRES_URL is not None
        with psycopg.connect(POSTGRES_URL, autocommit=True, options=f"-csearch_path={self.schema}") as connection:
            cursor = connection.execute(sql.replace("%", "%%").replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def insert_record(self, values: dict[str, Any]) -> None:
        """Insert one audit_record row exactly as given (a forger's insert)."""
        columns = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.execute(f"INSERT INTO audit_record ({columns}) VALUES ({marks})", *values.values())


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy keeps SQLite datetimes as naive UTC text in this layout; a forger would match it.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty database: a SQLite file under tmp_path, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "archive" / "audit.db"
        yield Backend(name="sqlite", url=f"sqlite:///{path}", sqlite_path=path)
        return
    assert POSTGRES_URL is not None
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    try:
        yield Backend(name="postgres", url=url, schema=schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def archive(backend: Backend) -> Iterator[AuditArchive]:
    """An empty archive on the test's backend."""
    opened = AuditArchive(backend.url)
    yield opened
    opened.close()


@pytest.fixture
def t0() -> datetime:
    """The time origin of `make_record`: record n is at t0 + n hours."""
    return T0


@pytest.fixture
def make_record() -> RecordMaker:
    """Build a record: `make_record(n)` is an action record `r-<n>` at T0 + n hours; keywords override."""

    def build(n: int, **fields: Any) -> AuditRecordBase:
        values: dict[str, Any] = {
            "kind": "action",
            "time": T0 + timedelta(hours=n),
            "source": f"r-{n}",
            "workflow_id": f"action-{n}",
            "run_id": f"r-{n}",
            "action_id": f"a-{n}",
            "actor": "support-bot",
            "actor_kind": "ai_agent",
            "customer": "C-100",
            "action": "refund",
            "params": f'{{"amount": "{n}.00", "order_id": "O-{n}"}}',
            "channel": "chat",
            "reason": f"customer asked ({n})",
            "outcome": "allow",
            "rule": "grant",
            "reasons": '["within the grant"]',
            "charter_version": 3,
            "status": "completed",
        }
        values.update(fields)
        return AuditRecordBase(**values)

    return build


@pytest.fixture
def make_run(make_record: RecordMaker) -> RunMaker:
    """Build a closed run `r-<n>` and its records: the main one, plus `refusals` refused-approval records."""

    def build(n: int, *, refusals: int = 0, **fields: Any) -> tuple[ArchivedRun, list[AuditRecordBase]]:
        main = make_record(n, **fields)
        run = ArchivedRun(
            run_id=f"r-{n}",
            workflow_id=f"action-{n}",
            workflow_type="ActionWorkflow",
            closed_at=main.time,
            archived_at=main.time + timedelta(minutes=5),
            history=f'{{"events": [{{"eventId": "1", "run": {n}}}]}}',
        )
        extra = [
            make_record(
                n, **{**fields, "kind": "approval_refused", "source": f"r-{n}#{i}", "status": None, "outcome": None}
            )
            for i in range(1, refusals + 1)
        ]
        return run, [main, *extra]

    return build


@pytest.fixture
def chained(archive: AuditArchive, make_record: RecordMaker) -> AuditArchive:
    """The archive holding records 1 to `CHAINED`, each appended on its own, as the chain tests tamper with."""
    for n in range(1, CHAINED + 1):
        archive.append_run(run=None, records=[make_record(n)])
    return archive
