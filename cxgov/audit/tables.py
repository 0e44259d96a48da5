"""The audit archive's stored entities (sqlmodel). Table models never cross the Temporal wire.

AuditRecord: one normalized, hash-chained record (an action, a reversal, a refused approval or reversal
attempt, a drill, an expiry receipt). ArchivedRun: the full history JSON of one closed workflow run; the
records derived from it reference its run id. ChainHead: the last record's seq and hash, so that deleting
the newest record is detected too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

GENESIS = "0" * 64
"""The prev_hash of the first record ever archived."""


class AuditRecordBase(SQLModel):
    """What a record says. Every field is covered by the record's hash."""

    kind: str = Field(max_length=32, index=True)
    """action | reversal | approval_refused | reversal_refused | drill | expiry_receipt"""
    time: datetime = Field(index=True)
    """When it happened (the workflow's close time; the attempt's time for refusals)."""
    source: str = Field(max_length=300, unique=True)
    """Idempotency key: `<run id>` for the run's main record, `<run id>#<n>` for the n-th refusal in it."""
    workflow_id: str | None = Field(default=None, max_length=200)
    run_id: str | None = Field(default=None, max_length=100, index=True)
    action_id: str | None = Field(default=None, max_length=200, index=True)
    actor: str | None = Field(default=None, max_length=100)
    actor_kind: str | None = Field(default=None, max_length=32)
    customer: str | None = Field(default=None, max_length=100)
    action: str | None = Field(default=None, max_length=100)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """JSON object."""
    channel: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    outcome: str | None = Field(default=None, max_length=16)
    rule: str | None = Field(default=None, max_length=64)
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """JSON list of the decision's reasons (or the refusal)."""
    gap: bool = False
    charter_version: int | None = None
    charter_sha256: str | None = Field(default=None, max_length=64)
    """The sha256 of the charter file that decided; left out of the hash when None, so that records archived
    before it existed still verify."""
    history_sha256: str | None = Field(default=None, max_length=64)
    """The sha256 of the archived run's full history JSON (on each record derived from a run), so that the chain
    covers the history too: `verify` recomputes it. Left out of the hash when None, like charter_sha256."""
    approvals: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """JSON list: every approval and denial, with person, role, time, reason, accepted, refusal."""
    status: str | None = Field(default=None, max_length=32)
    reversal_of: str | None = Field(default=None, max_length=200, index=True)
    """For reversals (and refused reversal attempts): the action id they undo."""
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """JSON object: anything else (escalations, steps, receipt range and count)."""


class AuditRecord(AuditRecordBase, table=True):
    __tablename__ = "audit_record"
    __table_args__ = (
        Index("ix_audit_actor_time", "actor", "time"),
        Index("ix_audit_customer_time", "customer", "time"),
        Index("ix_audit_action_time", "action", "time"),
        Index("ix_audit_status_time", "status", "time"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    """Position in the chain, 1, 2, 3, ...; assigned under the archive's write lock."""
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditRecordPublic(AuditRecordBase):
    """A record as shown to users and exported."""

    seq: int
    prev_hash: str
    hash: str


class ArchivedRun(SQLModel, table=True):
    """The full history of one closed workflow run, as Temporal's JSON."""

    __tablename__ = "archived_run"

    run_id: str = Field(primary_key=True, max_length=100)
    workflow_id: str = Field(max_length=200, index=True)
    workflow_type: str = Field(max_length=64)
    closed_at: datetime = Field(index=True)
    archived_at: datetime
    history: str = Field(sa_column=Column(Text, nullable=False))


class ChainHead(SQLModel, table=True):
    """The newest record's seq and hash (one row)."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = GENESIS
