"""Drill sign-off: a named human of the reversal owner role signs the latest passing drill of an action.

The seed's bar is "reversal tested in the last 90 days by a named human". A drill proves the undo on a sandbox
fixture; a signature says a person who owns the undo (a member of the action's reversal owner role) looked at
that proof and vouches for it. Signing is an act of the person (`cxgov drills sign`, through the HTTP API with
their own credential): the credential's principal is recorded with how it was proven, never a name typed.

A signature counts towards the bar while its drill finished within `SIGNATURE_MAX_AGE` and its signer is still
an active member of the owner role; otherwise the action is a gap (`cxgov gaps`). The table lives next to the
audit archive (`CXGOV_DATABASE_URL`), and each signature is also appended to the audit chain (`drill_signed`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter import Charter
from cxgov.drills.ledger import DrillLedger
from cxgov.errors import BadRequest, Denied, NotFound

SIGNATURE_MAX_AGE = timedelta(days=90)
"""How recent a signed drill must be to meet the seed's bar ("reversal tested in the last 90 days by a named
human"): judged by when the signed drill finished, not by when it was signed, so a signature never makes an
old proof look fresh. A passing drill older than this cannot be signed at all."""
AUDIT_KIND = "drill_signed"
"""The kind of the audit record each signature appends to the chain."""


class DrillSignatureBase(SQLModel):
    """What a drill signature says."""

    action: str = Field(max_length=100, index=True)
    drill_id: str = Field(max_length=200)
    """The signed drill (the latest passing drill of `action` when it was signed)."""
    drill_finished: datetime
    """When the signed drill finished: the 90-day bar is judged by it."""
    person: str = Field(max_length=100)
    """The signer: the credential's principal, a member of the action's reversal owner role when signing."""
    via: str = Field(max_length=200)
    """How the signer proved who they were: `key <id>` or `oidc <issuer>`."""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    """What the signer says they checked (required)."""
    signed_at: datetime


class DrillSignature(DrillSignatureBase, table=True):
    """One person's signature of one drill (signing the same drill twice keeps the first)."""

    __tablename__ = "drill_signature"
    __table_args__ = (UniqueConstraint("drill_id", "person"),)

    id: int | None = Field(default=None, primary_key=True)


class DrillSignaturePublic(DrillSignatureBase):
    """A signature as `cxgov drills sign` and `POST /v1/drills/{action}/signatures` answer it."""


class DrillSignatures:
    """Drill signatures in the archive's database: signing (with every check) and reading them back.

    Args:
        url: The database URL (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = ArchiveDatabase(url)
        with self.database.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=[SQLModel.metadata.tables["drill_signature"]])

    def close(self) -> None:
        self.database.close()

    def sign(
        self,
        *,
        charter: Charter,
        ledger: DrillLedger,
        action: str,
        person: str,
        via: str,
        reason: str,
        now: datetime,
        charter_sha256: str | None = None,
    ) -> DrillSignaturePublic:
        """Sign the latest passing drill of `action` as `person`; signing the same drill again answers the first
        signature. Nothing is recorded unless every check passes.

        Raises:
            NotFound: `action` is not a reversible action of `charter`.
            BadRequest: `reason` is empty.
            Denied: `person` is not an active member of the action's reversal owner role, no drill of the action
                has passed, or the last pass is older than SIGNATURE_MAX_AGE.
        """
        drilled = charter.drilled_actions()
        if action not in drilled:
            known = ", ".join(drilled) or "none"
            raise NotFound(f"{action!r} is not a reversible action of charter v{charter.version} (drilled: {known})")
        if not reason.strip():
            raise BadRequest("the reason is empty: say what you checked before signing", field="reason")
        _check_signer(charter, action, person)
        last_pass = ledger.drills(action=action).last_pass
        if last_pass is None:
            raise Denied(
                f"no drill of {action} has passed: there is nothing to sign (run `cxgov drills run {action}`)",
                action=action,
            )
        signed = self._find(drill_id=last_pass.drill_id, person=person)
        if signed is None:
            finished = from_db_time(last_pass.finished)
            if now - finished > SIGNATURE_MAX_AGE:
                raise Denied(
                    f"the last passing drill of {action} finished {finished:%Y-%m-%d %H:%M} UTC, longer ago than "
                    f"{SIGNATURE_MAX_AGE.days}d: run `cxgov drills run {action}` and sign that one",
                    action=action,
                )
            signed = self._insert(
                DrillSignatureBase(
                    action=action,
                    drill_id=last_pass.drill_id,
                    drill_finished=finished,
                    person=person,
                    via=via,
                    reason=reason.strip(),
                    signed_at=to_db_time(now),
                )
            )
        # Appended on every call (once per signature: the record's source is unique), so a signature whose audit
        # append was cut short gets its record when it is signed again.
        self._audit(signed, charter=charter, charter_sha256=charter_sha256)
        return signed

    def signatures(self, *, action: str, since: datetime | None = None) -> list[DrillSignaturePublic]:
        """The signatures of `action`'s drills, newest first; `since`: only of drills that finished since then."""
        query = select(DrillSignature).where(col(DrillSignature.action) == action)
        if since is not None:
            query = query.where(col(DrillSignature.drill_finished) >= to_db_time(since))
        query = query.order_by(col(DrillSignature.signed_at).desc(), col(DrillSignature.id).desc())
        with self.database.reading() as connection:
            rows = connection.execute(query).all()
        return [_public(DrillSignature.model_validate(row._mapping)) for row in rows]

    def current(self, *, charter: Charter, action: str, now: datetime) -> DrillSignaturePublic | None:
        """The newest signature of `action` that meets the bar now (see `counted`); None: not signed by a named
        human within SIGNATURE_MAX_AGE."""
        return counted(charter, action, self.signatures(action=action, since=now - SIGNATURE_MAX_AGE), now=now)

    def _find(self, *, drill_id: str, person: str) -> DrillSignaturePublic | None:
        query = select(DrillSignature).where(
            col(DrillSignature.drill_id) == drill_id, col(DrillSignature.person) == person
        )
        with self.database.reading() as connection:
            row = connection.execute(query).first()
        return _public(DrillSignature.model_validate(row._mapping)) if row is not None else None

    def _insert(self, signature: DrillSignatureBase) -> DrillSignaturePublic:
        values = signature.model_dump()
        values.update(drill_finished=to_db_time(signature.drill_finished), signed_at=to_db_time(signature.signed_at))
        try:
            with self.database.writing() as connection:
                connection.execute(DrillSignature.__table__.insert().values(**values))  # type: ignore[attr-defined]
        except IntegrityError:  # signed a moment ago by the same person, in another request
            found = self._find(drill_id=signature.drill_id, person=signature.person)
            if found is None:
                raise
            return found
        return DrillSignaturePublic.model_validate(signature.model_dump())

    def _audit(self, signed: DrillSignaturePublic, *, charter: Charter, charter_sha256: str | None) -> None:
        source = f"drill-signed:{signed.drill_id}:{signed.person}"
        if len(source) > 300:  # the record's source column; drill ids and names are far shorter in practice
            source = "drill-signed:" + hashlib.sha256(source.encode()).hexdigest()
        detail = {
            "drill_id": signed.drill_id,
            "drill_finished": signed.drill_finished.isoformat(),
            "owner_role": charter.actions[signed.action].reversal.owner,
            "via": signed.via,
        }
        record = AuditRecordBase(
            kind=AUDIT_KIND,
            time=signed.signed_at,
            source=source,
            actor=signed.person,
            actor_kind="person",
            action=signed.action,
            reason=signed.reason,
            charter_version=charter.version,
            charter_sha256=charter_sha256,
            detail=json.dumps(detail, separators=(",", ":")),
        )
        archive = AuditArchive(self.url)
        try:
            archive.append_records(records=[record])
        finally:
            archive.close()


def _check_signer(charter: Charter, action: str, person: str) -> None:
    """Refuse anyone but an active member of the action's reversal owner role (deny by default)."""
    owner = charter.actions[action].reversal.owner
    if owner is None:
        raise Denied(
            f"{action} has no reversal owner role in charter v{charter.version}: nobody can sign its drills "
            "(a charter gap: give the action a reversal owner)",
            action=action,
        )
    members = charter.active_members(owner)
    if person in members:
        return
    suspended = person in charter.members(owner)
    raise Denied(
        f"{person} {'is suspended from' if suspended else 'is not a member of'} {owner}, the reversal owner role of "
        f"{action}: only its members ({', '.join(members) or 'nobody'}) sign its drills",
        action=action,
    )


def counted(
    charter: Charter, action: str, signatures: Sequence[DrillSignaturePublic], *, now: datetime
) -> DrillSignaturePublic | None:
    """The newest of `signatures` that meets the bar now: of a drill that finished within SIGNATURE_MAX_AGE, by
    someone who is still an active member of the action's reversal owner role. None: not signed by a named human.
    """
    owner = charter.actions[action].reversal.owner
    members = set(charter.active_members(owner)) if owner is not None else set()
    for signature in signatures:
        if signature.person in members and now - signature.drill_finished <= SIGNATURE_MAX_AGE:
            return signature
    return None


def signoff_text(signature: DrillSignaturePublic | None) -> str:
    """ "tested DATE, signed by NAME", or "not signed by a named human"."""
    if signature is None:
        return "not signed by a named human"
    return f"tested {signature.drill_finished:%Y-%m-%d}, signed by {signature.person}"


def _public(row: DrillSignature) -> DrillSignaturePublic:
    return DrillSignaturePublic(
        action=row.action,
        drill_id=row.drill_id,
        drill_finished=from_db_time(row.drill_finished),
        person=row.person,
        via=row.via,
        reason=row.reason,
        signed_at=from_db_time(row.signed_at),
    )
