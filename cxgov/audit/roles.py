"""The audit database's schema and its roles on PostgreSQL: the owner migrates, the app may only insert evidence.

`cxgov audit migrate`, run with the schema owner's URL, creates every table cxgov keeps next to the archive and,
on PostgreSQL, grants:

- the app role (the worker and the HTTP server, `CXGOV_DATABASE_URL`): SELECT and INSERT on the archive's
  records and histories, never UPDATE or DELETE, so that whoever holds the app's credentials cannot alter or
  erase evidence; SELECT, INSERT, UPDATE on the chain head (appending moves it); full use of the working tables
  (keys, notices, freezes, overrides, holds, charter loads and signatures, shadow decisions, archive failures);
- the retention role (`CXGOV_RETENTION_DATABASE_URL`, the purge only): SELECT, INSERT and DELETE on the archive,
  the head and the holds it must respect, nothing else.

Temporal's own database user is a third, separate role (see docker-compose.yml).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text
from sqlmodel import SQLModel

from cxgov.audit.database import ArchiveDatabase
from cxgov.errors import BadRequest

EVIDENCE = ("audit_record", "archived_run")
"""Append-only for the app role."""
HEAD = "audit_chain_head"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _load_models() -> None:
    """Import every module that declares a table kept next to the archive, so `create_all` sees them all."""
    import cxgov.audit.failures
    import cxgov.audit.holds
    import cxgov.audit.tables
    import cxgov.charter.registry
    import cxgov.charter.shadow
    import cxgov.drills.signatures
    import cxgov.identity.keys
    import cxgov.killswitch
    import cxgov.notify.ledger
    import cxgov.overrides  # noqa: F401


def tables() -> list[str]:
    """Every table cxgov keeps in the audit database."""
    _load_models()
    return sorted(SQLModel.metadata.tables)  # the sandbox's tables have their own metadata, in their own file


def migrate(url: str, *, app_role: str | None = None, retention_role: str | None = None) -> list[str]:
    """Create every missing table (and column) at `url`, as its owner; on PostgreSQL, grant the roles.

    Returns:
        What was done, one line each.

    Raises:
        BadRequest: A role is named on SQLite, or a role name is not a plain lower-case identifier.
    """
    from cxgov.audit.store import AuditArchive

    for role in (app_role, retention_role):
        if role is not None and not ROLE_NAME.match(role):
            raise BadRequest(f"{role!r} is not a role name (lower-case letters, digits and _)", field="role")
    _load_models()
    AuditArchive(url).close()  # the chain's tables, columns and head row
    database = ArchiveDatabase(url)
    try:
        if database.dialect != "postgresql" and (app_role or retention_role):
            raise BadRequest("roles are for PostgreSQL; a SQLite archive is guarded by its file's permissions")
        names = tables()
        with database.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=[SQLModel.metadata.tables[name] for name in names])
            done = [f"tables ready: {', '.join(names)}"]
            if app_role is not None:
                done.append(_grant_app(connection, app_role, names))
            if retention_role is not None:
                done.append(_grant_retention(connection, retention_role))
        return done
    finally:
        database.close()


def _quoted(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)  # `freeze` and `override` are SQL keywords


def _grant_app(connection: Connection, role: str, names: list[str]) -> str:
    working = [name for name in names if name not in (*EVIDENCE, HEAD)]
    statements = [
        f"GRANT USAGE ON SCHEMA {_schema(connection)} TO {role}",
        f"REVOKE ALL ON {_quoted(names)} FROM {role}",
        f"GRANT SELECT, INSERT ON {_quoted(EVIDENCE)} TO {role}",
        f'GRANT SELECT, INSERT, UPDATE ON "{HEAD}" TO {role}',
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {_quoted(working)} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_schema(connection)} TO {role}",
    ]
    for statement in statements:
        connection.execute(text(statement))
    return f"{role}: may insert into and read {', '.join(EVIDENCE)}, never update or delete them"


def _grant_retention(connection: Connection, role: str) -> str:
    statements = [
        f"GRANT USAGE ON SCHEMA {_schema(connection)} TO {role}",
        f"GRANT SELECT, INSERT, DELETE ON {_quoted(EVIDENCE)} TO {role}",
        f'GRANT SELECT, INSERT, UPDATE ON "{HEAD}" TO {role}',
        f'GRANT SELECT ON "legal_hold" TO {role}',
    ]
    for statement in statements:
        connection.execute(text(statement))
    return f"{role}: may purge {', '.join(EVIDENCE)} past retention (the purge only)"


def _schema(connection: Connection) -> str:
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    return f'"{schema}"'
