"""Opening the archive: a SQLite file (created, in WAL mode) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cxgov.audit.database import normalize_url
from cxgov.audit.store import AuditArchive
from cxgov.errors import BadRequest


def test_a_sqlite_archive_creates_its_directory_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "audit.db"
    with AuditArchive(f"sqlite:///{path}") as archive:
        assert archive.verify().ok

    assert path.exists()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    assert {"audit_record", "archived_run", "audit_chain_head"} <= tables


@pytest.mark.parametrize(
    "url",
    [
        "postgres://cx:pw@db.example:5432/audit",
        "postgresql://cx:pw@db.example:5432/audit",
        "postgresql+psycopg://cx:pw@db.example:5432/audit",
    ],
)
def test_postgresql_urls_are_driven_by_psycopg_3(url: str) -> None:
    parsed = normalize_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database, parsed.username) == ("db.example", 5432, "audit", "cx")


@pytest.mark.parametrize("url", ["mysql://cx:pw@db/audit", "sqlite://", "sqlite:///:memory:"])
def test_other_databases_are_refused_with_a_clear_message(url: str) -> None:
    with pytest.raises(BadRequest) as refused:
        AuditArchive(url)
    assert "sqlite:///<file>" in str(refused.value)
    assert "pw" not in str(refused.value)
