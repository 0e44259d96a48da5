"""API keys: high-entropy tokens shown once, stored only as a hash, next to the audit archive.

A token reads `cxgov_<key id>_<secret>`: the key id finds the row, the secret's hash must match it, in
constant time. An answer is kept for at most `CHECK_TTL` (one second) per process, so a revocation or an
expiry counts within a second everywhere (at once in the process that revoked). Issuing and revoking are
appended to the audit chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Field, SQLModel, col, select, update

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase
from cxgov.errors import BadRequest, NotFound

Kind = Literal["actor", "person"]
TOKEN = re.compile(r"^cxgov_(k[0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
KEY_ID = re.compile(r"^k[0-9a-f]{16}$")
MAX_CACHED = 10_000
CHECK_TTL = 1.0
"""Seconds a token's check is reused: the bound on how late a revocation or expiry takes effect."""


class Credential(SQLModel, table=True):
    """One issued key. The token itself is never stored: only its sha256."""

    __tablename__ = "credential"

    key_id: str = Field(primary_key=True, max_length=17)
    principal: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=16)
    token_hash: str = Field(max_length=64)
    issued_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class IssuedKey(BaseModel):
    """What `keys issue` prints once: the token is not shown again."""

    key_id: str
    principal: str
    kind: Kind
    expires: datetime | None
    token: str


class KeyPublic(BaseModel):
    """A key as `keys list` shows it: never the token."""

    key_id: str
    principal: str
    kind: Kind
    issued: datetime
    expires: datetime | None
    revoked: datetime | None
    state: Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as its credential proves."""

    name: str
    kind: Kind
    via: str
    """`key <id>` or `oidc <issuer>`: how it proved itself."""


class KeyStore:
    """Issues, lists, revokes and checks keys in the archive's database.

    Args:
        url: The database URL (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
    """

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        SQLModel.metadata.create_all(self.database.engine, tables=[SQLModel.metadata.tables["credential"]])
        self._archive = AuditArchive(url)
        self._checked: dict[str, tuple[float, Principal | None, datetime | None]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.database.close()
        self._archive.close()

    def issue(self, *, principal: str, kind: Kind, expires_in: timedelta | None, now: datetime) -> IssuedKey:
        """A new key for `principal`; its token is in the result and nowhere else."""
        key_id = f"k{secrets.token_hex(8)}"
        token = f"cxgov_{key_id}_{secrets.token_urlsafe(32)}"
        expires = now + expires_in if expires_in is not None else None
        with self.database.writing() as connection:
            connection.execute(
                Credential.__table__.insert().values(  # type: ignore[attr-defined]
                    key_id=key_id,
                    principal=principal,
                    kind=kind,
                    token_hash=_hash(token),
                    issued_at=to_db_time(now),
                    expires_at=to_db_time(expires) if expires is not None else None,
                )
            )
        self._audit("key_issued", key_id=key_id, principal=principal, kind=kind, now=now, expires=expires)
        return IssuedKey(key_id=key_id, principal=principal, kind=kind, expires=expires, token=token)

    def revoke(self, *, key_id: str, now: datetime) -> KeyPublic:
        """Revoke a key from now on (revoking twice keeps the first time).

        Raises:
            BadRequest: `key_id` is not a key id.
            NotFound: No such key.
        """
        if not KEY_ID.match(key_id):
            raise BadRequest(f"{key_id[:40]!r} is not a key id (k followed by 16 hex digits)", field="key_id")
        with self.database.writing() as connection:
            connection.execute(
                update(Credential)
                .where(col(Credential.key_id) == key_id, col(Credential.revoked_at).is_(None))
                .values(revoked_at=to_db_time(now))
            )
            row = connection.execute(select(Credential).where(col(Credential.key_id) == key_id)).first()
        with self._lock:
            self._checked.clear()  # this process stops honouring it at once
        if row is None:
            raise NotFound(f"no key {key_id}")
        key = _public(Credential.model_validate(row._mapping), now=now)
        self._audit("key_revoked", key_id=key_id, principal=key.principal, kind=key.kind, now=now, expires=key.expires)
        return key

    def list(self, *, now: datetime) -> list[KeyPublic]:
        """Every key ever issued, oldest first."""
        with self.database.reading() as connection:
            rows = connection.execute(select(Credential).order_by(col(Credential.issued_at))).all()
        return [_public(Credential.model_validate(row._mapping), now=now) for row in rows]

    def authenticate(self, token: str, *, now: datetime) -> Principal | None:
        """The principal a token proves, or None (malformed, unknown, wrong secret, expired or revoked)."""
        match = TOKEN.match(token)
        if match is None:
            return None
        digest = _hash(token)
        with self._lock:
            cached = self._checked.get(digest)
        if cached is not None and time.monotonic() - cached[0] < CHECK_TTL:
            principal, expires = cached[1], cached[2]
            return principal if principal is None or expires is None or now < expires else None
        principal, expires = self._check(match.group(1), digest, now=now)
        with self._lock:
            if len(self._checked) > MAX_CACHED:
                self._checked.clear()
            self._checked[digest] = (time.monotonic(), principal, expires)
        return principal

    def _check(self, key_id: str, digest: str, *, now: datetime) -> tuple[Principal | None, datetime | None]:
        match = key_id
        with self.database.reading() as connection:
            row = connection.execute(select(Credential).where(col(Credential.key_id) == match)).first()
        if row is None:
            return None, None
        found = Credential.model_validate(row._mapping)
        if not hmac.compare_digest(found.token_hash, digest):
            return None, None
        public = _public(found, now=now)
        if public.state != "active":
            return None, None
        kind: Kind = "actor" if found.kind == "actor" else "person"
        return Principal(name=found.principal, kind=kind, via=f"key {found.key_id}"), public.expires

    def _audit(
        self, event: str, *, key_id: str, principal: str, kind: Kind, now: datetime, expires: datetime | None
    ) -> None:
        """Append `key_issued` or `key_revoked` to the audit chain (once per key and event)."""
        detail = {"key_id": key_id, "expires": expires.isoformat() if expires is not None else None}
        record = AuditRecordBase(
            kind=event,
            time=now,
            source=f"{key_id}#{event}",
            actor=principal,
            actor_kind=kind,
            detail=json.dumps(detail, separators=(",", ":")),
        )
        self._archive.append_records(records=[record])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _public(found: Credential, *, now: datetime) -> KeyPublic:
    expires = from_db_time(found.expires_at) if found.expires_at is not None else None
    revoked = from_db_time(found.revoked_at) if found.revoked_at is not None else None
    state: Literal["active", "expired", "revoked"] = (
        "revoked" if revoked is not None else "expired" if expires is not None and expires <= now else "active"
    )
    kind: Kind = "actor" if found.kind == "actor" else "person"
    return KeyPublic(
        key_id=found.key_id,
        principal=found.principal,
        kind=kind,
        issued=from_db_time(found.issued_at),
        expires=expires,
        revoked=revoked,
        state=state,
    )
