"""The charter registry: every charter a worker loaded, and every sign-off a person made with their credential.

A charter declares who signed it off (`signoffs`), but a row in a YAML file is something anyone can type. A
declared sign-off counts only when that person signed that exact file (its sha256) with their own credential
(`cxgov charter sign`, through the HTTP API). A production worker refuses to start on a charter whose declared
sign-offs are not all backed that way, or whose version does not increase: a version already loaded with other
content, or lower than one loaded before, is refused (the same file again is a restart). Each load is recorded
with the worker that loaded it and the file's text, so `charter history` and `charter diff` can show any two.

The tables live next to the audit archive (`CXGOV_DATABASE_URL`); each signature and each load is also
appended to the audit chain (`charter_signed`, `charter_loaded`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from cxgov.audit.database import ArchiveDatabase, from_db_time, to_db_time
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase
from cxgov.charter.loader import LoadedCharter, charter_from_text
from cxgov.errors import CharterError, Denied, NotFound
from cxgov.settings import retention_floor_days

EMBEDDED_SIGNER = "cxgov up (embedded operator)"
"""How a signature made by `cxgov up` at start is recorded: its operator holds every local key anyway."""


class CharterLoad(SQLModel, table=True):
    """One charter file loaded by one worker at one time, with its text (for `diff`)."""

    __tablename__ = "charter_load"

    id: int | None = Field(default=None, primary_key=True)
    charter: str = Field(max_length=100)
    version: int = Field(index=True)
    sha256: str = Field(max_length=64, index=True)
    loaded_at: datetime
    worker: str = Field(max_length=300)
    """`host/pid/task queue` of the worker that loaded it."""
    signoffs: str = Field(sa_column=Column(Text, nullable=False))
    """JSON list: each declared sign-off with who signed it and how."""
    text: str = Field(sa_column=Column(Text, nullable=False))


class CharterSignature(SQLModel, table=True):
    """A person's signature of one charter file (sha256) for one sign-off function."""

    __tablename__ = "charter_signature"
    __table_args__ = (UniqueConstraint("sha256", "function", "person"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    function: str = Field(max_length=100)
    person: str = Field(max_length=100)
    via: str = Field(max_length=200)
    """How the signer proved who they were: `key <id>`, `oidc <issuer>`, or the embedded operator."""
    signed_at: datetime


class Signature(BaseModel):
    """A recorded signature, as `charter history` and `charter sign` show it."""

    sha256: str
    function: str
    person: str
    via: str
    signed_at: datetime


class VersionEntry(BaseModel):
    """One charter file in the history: first and last load, how often, by which workers, who signed it."""

    charter: str
    version: int
    sha256: str
    first_loaded: datetime
    last_loaded: datetime
    loads: int
    workers: list[str]
    signoffs: list[dict[str, str | None]]
    """Each declared sign-off: function, by, on, and `signed_via` (None when no signature backs it)."""


@dataclass(frozen=True)
class Problem:
    """Why a worker may not load a charter: one line, and the command that fixes it when there is one."""

    line: str


class CharterRefused(CharterError):
    """A worker refuses a charter: its sign-offs are not signed, or its version does not increase (exit 2)."""

    def __init__(self, problems: list[Problem], *, path: str) -> None:
        super().__init__("\n".join(problem.line for problem in problems), path=path)
        self.message = "\n".join(problem.line for problem in problems)


class CharterRegistry:
    """Loads, signatures and the start check, in the archive's database.

    Args:
        url: The database URL (CXGOV_DATABASE_URL, or SQLite under CXGOV_HOME).
    """

    def __init__(self, url: str) -> None:
        self.database = ArchiveDatabase(url)
        tables = [SQLModel.metadata.tables[name] for name in ("charter_load", "charter_signature")]
        with self.database.writing() as connection:
            SQLModel.metadata.create_all(connection, tables=tables)
        self._archive = AuditArchive(url)

    def close(self) -> None:
        self.database.close()
        self._archive.close()

    # --- signatures ------------------------------------------------------------------------------------

    def sign(self, *, loaded: LoadedCharter, function: str, person: str, via: str, now: datetime) -> Signature:
        """Record `person`'s signature of `loaded` for `function`; signing twice keeps the first.

        Raises:
            Denied: The charter does not name `person` as the signer of `function`.
        """
        charter = loaded.charter
        declared = [signoff for signoff in charter.signoffs if signoff.function == function]
        if not declared:
            functions = ", ".join(signoff.function for signoff in charter.signoffs) or "none"
            raise Denied(
                f"charter {charter.charter} v{charter.version} declares no sign-off of {function!r} "
                f"(it declares: {functions})"
            )
        if all(signoff.by != person for signoff in declared):
            named = ", ".join(signoff.by for signoff in declared)
            raise Denied(
                f"charter {charter.charter} v{charter.version} names {named} for the {function!r} sign-off, "
                f"not {person}"
            )
        try:
            with self.database.writing() as connection:
                connection.execute(
                    CharterSignature.__table__.insert().values(  # type: ignore[attr-defined]
                        sha256=loaded.sha256, function=function, person=person, via=via, signed_at=to_db_time(now)
                    )
                )
        except IntegrityError:
            return next(s for s in self.signatures(loaded.sha256) if s.function == function and s.person == person)
        detail = {"sha256": loaded.sha256, "function": function, "charter": charter.charter, "via": via}
        self._audit(
            "charter_signed", actor=person, version=charter.version, sha256=loaded.sha256, detail=detail, now=now
        )
        return Signature(sha256=loaded.sha256, function=function, person=person, via=via, signed_at=now)

    def signatures(self, sha256: str) -> list[Signature]:
        """Every signature of the file with this sha256, oldest first."""
        with self.database.reading() as connection:
            rows = connection.execute(
                select(CharterSignature)
                .where(col(CharterSignature.sha256) == sha256)
                .order_by(col(CharterSignature.id))
            ).all()
        return [_signature(CharterSignature.model_validate(row._mapping)) for row in rows]

    def sign_declared(self, loaded: LoadedCharter, *, via: str, now: datetime) -> list[Signature]:
        """Sign every declared sign-off not yet signed, as its named person (the embedded stack only)."""
        have = {(s.function, s.person) for s in self.signatures(loaded.sha256)}
        return [
            self.sign(loaded=loaded, function=signoff.function, person=signoff.by, via=via, now=now)
            for signoff in loaded.charter.signoffs
            if (signoff.function, signoff.by) not in have
        ]

    # --- the start check and loads ---------------------------------------------------------------------

    def problems(self, loaded: LoadedCharter, *, path: str) -> list[Problem]:
        """Why a worker may not load this charter: unsigned declared sign-offs, a version that does not increase,
        a retention below the floor (CXGOV_RETENTION_FLOOR_DAYS)."""
        charter = loaded.charter
        signed = {(s.function, s.person) for s in self.signatures(loaded.sha256)}
        found = [
            Problem(
                f"charter {charter.charter} v{charter.version} (sha256 {loaded.sha256[:12]}): the {signoff.function} "
                f"sign-off is declared by {signoff.by} but not signed; {signoff.by} runs "
                f"`cxgov charter sign {path} --function {signoff.function} --as {signoff.by}`"
            )
            for signoff in charter.signoffs
            if (signoff.function, signoff.by) not in signed
        ]
        floor = retention_floor_days()
        if charter.retention_days < floor:
            found.append(
                Problem(
                    f"charter {charter.charter} v{charter.version}: retention_days {charter.retention_days} is below "
                    f"the retention floor of {floor} days (CXGOV_RETENTION_FLOOR_DAYS, set outside the charter): "
                    f"keep audit records at least {floor} days"
                )
            )
        for seen in self._versions_from(charter.version, other_than=loaded.sha256):
            relation = "the same version" if seen.version == charter.version else f"a later version, v{seen.version},"
            found.append(
                Problem(
                    f"charter {charter.charter} v{charter.version} (sha256 {loaded.sha256[:12]}): {relation} was "
                    f"already loaded with other content (sha256 {seen.sha256[:12]}) on "
                    f"{from_db_time(seen.loaded_at):%Y-%m-%d %H:%M} UTC; versions only increase: give this file "
                    f"version {self._highest() + 1} or more, and sign it again"
                )
            )
        return found

    def admit(self, loaded: LoadedCharter, *, path: str, worker: str, now: datetime) -> None:
        """Check `loaded` and record its load; a charter that fails the check is refused and not recorded.

        Raises:
            CharterRefused: One line per problem.
        """
        problems = self.problems(loaded, path=path)
        if problems:
            raise CharterRefused(problems, path=path)
        self.record_load(loaded, worker=worker, now=now)

    def record_load(self, loaded: LoadedCharter, *, worker: str, now: datetime) -> None:
        """Record that `worker` loaded this charter now (and append `charter_loaded` to the audit chain)."""
        signatures = {(s.function, s.person): s.via for s in self.signatures(loaded.sha256)}
        signoffs = [
            {
                "function": s.function,
                "by": s.by,
                "on": s.on.isoformat(),
                "signed_via": signatures.get((s.function, s.by)),
            }
            for s in loaded.charter.signoffs
        ]
        charter = loaded.charter
        with self.database.writing() as connection:
            connection.execute(
                CharterLoad.__table__.insert().values(  # type: ignore[attr-defined]
                    charter=charter.charter,
                    version=charter.version,
                    sha256=loaded.sha256,
                    loaded_at=to_db_time(now),
                    worker=worker[:300],
                    signoffs=json.dumps(signoffs),
                    text=loaded.text,
                )
            )
        detail = {"sha256": loaded.sha256, "charter": charter.charter, "worker": worker, "signoffs": signoffs}
        self._audit("charter_loaded", actor=None, version=charter.version, sha256=loaded.sha256, detail=detail, now=now)

    def history(self) -> list[VersionEntry]:
        """Every charter file ever loaded, by version then first load."""
        with self.database.reading() as connection:
            rows = connection.execute(select(CharterLoad).order_by(col(CharterLoad.id))).all()
        entries: dict[str, VersionEntry] = {}
        for row in rows:
            load = CharterLoad.model_validate(row._mapping)
            at = from_db_time(load.loaded_at)
            entry = entries.get(load.sha256)
            if entry is None:
                entries[load.sha256] = VersionEntry(
                    charter=load.charter,
                    version=load.version,
                    sha256=load.sha256,
                    first_loaded=at,
                    last_loaded=at,
                    loads=1,
                    workers=[load.worker],
                    signoffs=json.loads(load.signoffs),
                )
                continue
            entry.last_loaded, entry.loads = at, entry.loads + 1
            entry.signoffs = json.loads(load.signoffs)
            if load.worker not in entry.workers:
                entry.workers.append(load.worker)
        return sorted(entries.values(), key=lambda entry: (entry.version, entry.first_loaded))

    def loaded_version(self, version: int) -> LoadedCharter:
        """The charter file most recently loaded as `version`.

        Raises:
            NotFound: No worker ever loaded that version.
        """
        with self.database.reading() as connection:
            row = connection.execute(
                select(CharterLoad).where(col(CharterLoad.version) == version).order_by(col(CharterLoad.id).desc())
            ).first()
        if row is None:
            known = ", ".join(f"v{entry.version}" for entry in self.history()) or "none yet"
            raise NotFound(f"no worker loaded charter version {version} (loaded: {known})")
        load = CharterLoad.model_validate(row._mapping)
        return charter_from_text(
            load.text, shown=f"charter v{version} as loaded {from_db_time(load.loaded_at):%Y-%m-%d}"
        )

    def _versions_from(self, version: int, *, other_than: str) -> list[CharterLoad]:
        with self.database.reading() as connection:
            rows = connection.execute(
                select(CharterLoad)
                .where(col(CharterLoad.version) >= version, col(CharterLoad.sha256) != other_than)
                .order_by(col(CharterLoad.version).desc(), col(CharterLoad.id))
            ).all()
        first: dict[str, CharterLoad] = {}
        for row in rows:
            load = CharterLoad.model_validate(row._mapping)
            first.setdefault(load.sha256, load)
        return list(first.values())[:3]

    def _highest(self) -> int:
        return max((entry.version for entry in self.history()), default=0)

    def _audit(
        self, event: str, *, actor: str | None, version: int, sha256: str, detail: Mapping[str, object], now: datetime
    ) -> None:
        record = AuditRecordBase(
            kind=event,
            time=now,
            source=f"{event}#{sha256[:16]}#{uuid.uuid4().hex}",
            actor=actor,
            actor_kind="person" if actor is not None else None,
            charter_version=version,
            charter_sha256=sha256,
            detail=json.dumps(detail, separators=(",", ":"), default=str),
        )
        self._archive.append_records(records=[record])


def _signature(row: CharterSignature) -> Signature:
    return Signature(
        sha256=row.sha256, function=row.function, person=row.person, via=row.via, signed_at=from_db_time(row.signed_at)
    )
