"""`cxgov audit migrate`: create the audit database's tables as their owner, and grant the app and retention roles."""

from __future__ import annotations

from typing import Annotated

import typer

from cxgov.commands.common import JsonOpt, command, emit, settings
from cxgov.settings import shown_url


@command
def migrate(
    app_role: Annotated[
        str | None, typer.Option(help="PostgreSQL role of the worker and HTTP server: may only insert evidence.")
    ] = None,
    retention_role: Annotated[
        str | None, typer.Option(help="PostgreSQL role of the retention purge (CXGOV_RETENTION_DATABASE_URL).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create every table cxgov keeps in the audit database (CXGOV_DATABASE_URL, connected as the schema owner);
    on PostgreSQL, grant --app-role SELECT and INSERT on the archive (never UPDATE or DELETE) and full use of the
    working tables, and --retention-role what the purge needs. Idempotent: run it after every upgrade."""
    from cxgov.audit.roles import migrate as run_migration

    url = settings().audit_url
    done = run_migration(url, app_role=app_role, retention_role=retention_role)
    emit({"database": shown_url(url), "done": done}, "\n".join([f"migrated {shown_url(url)}", *done]))
