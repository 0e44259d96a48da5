"""Runs that could not be archived: recorded, retried every pass, shown in `gaps` and told, never silently.

A run fails to archive when its history cannot be fetched or does not derive into records (a history the
archiver does not understand, a record the archive refuses). The archive being unreachable is not such a
failure: then the whole pass fails and Temporal retries it, so nothing is recorded here and nothing is lost.
Each failing run has one row: when it first and last failed, how often, and the last error. A later pass that
archives it marks it resolved. `notified` says whether its people were told (once per run).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlmodel import Field, SQLModel, col

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time


class ArchiveFailureRow(SQLModel, table=True):
    __tablename__ = "archive_failure"

    run_id: str = Field(primary_key=True, max_length=100)
    workflow_id: str = Field(max_length=200)
    closed_at: datetime | None = None
    first_failed: datetime
    last_failed: datetime
    attempts: int = 1
    error: str = Field(max_length=2000)
    resolved_at: datetime | None = None


class ArchiveFailure(BaseModel):
    """A run the archiver could not archive (yet)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow_id: str
    closed_at: datetime | None
    first_failed: datetime
    last_failed: datetime
    attempts: int
    error: str


class ArchiveFailures:
    """The failure rows, next to the archive."""

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        with self.database.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=[SQLModel.metadata.tables["archive_failure"]])

    def close(self) -> None:
        self.database.close()

    def failed(self, *, run_id: str, workflow_id: str, closed_at: datetime | None, error: str, now: datetime) -> bool:
        """Record one more failure of a run; True when it is the run's first (open) failure."""
        table = ArchiveFailureRow.__table__  # type: ignore[attr-defined]
        with self.database.writing() as connection:
            found = connection.execute(
                select(table.c.attempts, table.c.resolved_at).where(table.c.run_id == run_id)
            ).first()
            if found is None:
                connection.execute(
                    table.insert().values(
                        run_id=run_id,
                        workflow_id=workflow_id,
                        closed_at=None if closed_at is None else to_db_time(closed_at),
                        first_failed=to_db_time(now),
                        last_failed=to_db_time(now),
                        attempts=1,
                        error=error[:2000],
                    )
                )
                return True
            connection.execute(
                update(table)
                .where(table.c.run_id == run_id)
                .values(last_failed=to_db_time(now), attempts=found.attempts + 1, error=error[:2000], resolved_at=None)
            )
            return found.resolved_at is not None

    def resolved(self, *, run_ids: list[str], now: datetime) -> None:
        """Mark these runs archived at last."""
        if not run_ids:
            return
        with self.database.writing() as connection:
            connection.execute(
                update(ArchiveFailureRow)
                .where(col(ArchiveFailureRow.run_id).in_(run_ids), col(ArchiveFailureRow.resolved_at).is_(None))
                .values(resolved_at=to_db_time(now))
            )

    def open(self) -> list[ArchiveFailure]:
        """The runs still not archived, oldest failure first."""
        query = (
            select(ArchiveFailureRow.__table__)  # type: ignore[attr-defined]
            .where(col(ArchiveFailureRow.resolved_at).is_(None))
            .order_by(col(ArchiveFailureRow.first_failed))
        )
        with self.database.reading() as connection:
            rows = connection.execute(query).all()
        return [
            ArchiveFailure(
                run_id=row.run_id,
                workflow_id=row.workflow_id,
                closed_at=None if row.closed_at is None else from_db_time(row.closed_at),
                first_failed=from_db_time(row.first_failed),
                last_failed=from_db_time(row.last_failed),
                attempts=row.attempts,
                error=row.error,
            )
            for row in rows
        ]
