"""On PostgreSQL the app's role may only insert evidence: `cxgov audit migrate`, run as the schema owner, grants the
worker's and HTTP server's role SELECT and INSERT on the archive and nothing that alters or erases it; only the
retention role may purge. Against the real PostgreSQL server of CXGOV_TEST_POSTGRES_URL, with real roles."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy.exc import ProgrammingError

from cxgov.audit.holds import HoldBook
from cxgov.audit.roles import migrate
from cxgov.audit.store import AuditArchive
from cxgov.budgets import BudgetLedger
from cxgov.charter.models import Budget
from cxgov.errors import BadRequest

if TYPE_CHECKING:
    from conftest import RunMaker

POSTGRES_URL = os.environ.get("CXGOV_TEST_POSTGRES_URL") or None
pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="needs CXGOV_TEST_POSTGRES_URL")


@dataclass
class Roles:
    owner: str
    app: str
    retention: str
    app_name: str
    retention_name: str
    schema: str

    def as_app(self, sql: str) -> None:
        assert POSTGRES_URL is not None
        with psycopg.connect(_login(POSTGRES_URL, self.app_name), autocommit=True) as connection:
            connection.execute(f"SET search_path TO {self.schema}")
            connection.execute(sql)


def _login(url: str, role: str) -> str:
    parts = urlsplit(url)
    netloc = f"{role}:{role}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _in(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def roles() -> Iterator[Roles]:
    assert POSTGRES_URL is not None
    tag = uuid.uuid4().hex[:10]
    schema, app, retention = f"roles_{tag}", f"cxgov_app_{tag}", f"cxgov_retention_{tag}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        for role in (app, retention):
            connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{role}'")
    try:
        yield Roles(
            owner=_in(POSTGRES_URL, schema),
            app=_in(_login(POSTGRES_URL, app), schema),
            retention=_in(_login(POSTGRES_URL, retention), schema),
            app_name=app,
            retention_name=retention,
            schema=schema,
        )
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
            for role in (app, retention):
                connection.execute(f"DROP OWNED BY {role}")
                connection.execute(f"DROP ROLE {role}")


def test_the_app_role_appends_evidence_but_cannot_alter_or_erase_it(
    roles: Roles, make_run: RunMaker, t0: datetime
) -> None:
    done = migrate(roles.owner, app_role=roles.app_name, retention_role=roles.retention_name)
    assert any("never update or delete" in line for line in done), done

    app = AuditArchive(roles.app)
    try:
        for n in (1, 2, 3):
            run, records = make_run(n)
            assert app.append_run(run=run, records=records)
        assert app.verify().ok
        budgets = BudgetLedger(roles.app)
        budget = Budget(amount=Decimal("100"), per=timedelta(days=1))
        assert (
            budgets.reserve(
                action_id="a-9", actor="support-bot", action="refund", amount=Decimal("5"), budget=budget, now=t0
            )
            is None
        )
        budgets.close()
        holds = HoldBook(roles.app)
        holds.place(kind="customer", name="C-999", reason="case 7", person="ana", via="key k1", now=t0)
        holds.close()

        for sql in (
            "UPDATE audit_record SET reason = 'nothing happened' WHERE seq = 1",
            "DELETE FROM audit_record WHERE seq = 1",
            "UPDATE archived_run SET history = '{}'",
            "DELETE FROM archived_run",
            "TRUNCATE audit_record",
            "DROP TABLE audit_record",
        ):
            with pytest.raises(psycopg.Error, match=r"permission denied|must be owner"):
                roles.as_app(sql)
        with pytest.raises(ProgrammingError, match="permission denied"):
            app.purge(before=t0 + timedelta(days=9999), now=t0 + timedelta(days=9999))
        assert app.verify().ok

        with AuditArchive(roles.retention) as purger:
            receipt = purger.purge(before=t0 + timedelta(days=9999), now=t0 + timedelta(days=9999))
        assert receipt is not None, "the retention role purges (up to the first held record)"
        assert app.verify().ok
    finally:
        app.close()


def test_roles_are_for_postgresql_and_named_plainly(tmp_path: Path, roles: Roles) -> None:
    with pytest.raises(BadRequest, match="roles are for PostgreSQL"):
        migrate(f"sqlite:///{tmp_path / 'audit.db'}", app_role="cxgov_app")
    with pytest.raises(BadRequest, match="is not a role name"):
        migrate(roles.owner, app_role="app; DROP TABLE audit_record")
    assert migrate(f"sqlite:///{tmp_path / 'audit.db'}")[0].startswith("tables ready: archive_failure, archived_run")
