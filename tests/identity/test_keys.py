"""Keys: shown once, stored as a hash, refused once expired or revoked, issue and revoke on the audit chain.

Runs on SQLite, and on PostgreSQL too when CXGOV_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cxgov.audit.store import AuditArchive
from cxgov.errors import BadRequest, NotFound
from cxgov.identity import KeyStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
URLS = ["sqlite"] + (["postgresql"] if os.environ.get("CXGOV_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=URLS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    yield os.environ["CXGOV_TEST_POSTGRES_URL"]  # the credential table is shared; each test's rows are its own keys


@pytest.fixture
def store(url: str) -> Iterator[KeyStore]:
    opened = KeyStore(url)
    yield opened
    opened.close()


def test_a_token_is_shown_once_and_only_its_hash_is_stored(store: KeyStore) -> None:
    issued = store.issue(principal="support-bot", kind="actor", expires_in=timedelta(days=90), now=NOW)
    assert issued.token.startswith(f"cxgov_{issued.key_id}_") and len(issued.token) > 60
    assert issued.expires == NOW + timedelta(days=90)
    with store.database.reading() as connection:
        stored = connection.execute(text("SELECT * FROM credential WHERE key_id = :k"), {"k": issued.key_id}).one()
    assert issued.token not in json.dumps([str(value) for value in stored])
    principal = store.authenticate(issued.token, now=NOW)
    assert principal is not None and (principal.name, principal.kind) == ("support-bot", "actor")
    assert principal.via == f"key {issued.key_id}"


def test_wrong_malformed_expired_and_revoked_tokens_prove_nothing(store: KeyStore) -> None:
    issued = store.issue(principal="ana", kind="person", expires_in=timedelta(hours=1), now=NOW)
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    for token in (forged, "", "cxgov_", "Bearer x", issued.token + "x", f"cxgov_k{'0' * 16}_{'a' * 43}"):
        assert store.authenticate(token, now=NOW) is None, token
    assert store.authenticate(issued.token, now=NOW + timedelta(minutes=59)) is not None
    assert store.authenticate(issued.token, now=NOW + timedelta(hours=1)) is None, "expired"
    other = store.issue(principal="ben", kind="person", expires_in=None, now=NOW)
    assert store.authenticate(other.token, now=NOW + timedelta(days=3650)) is not None, "never expires"
    revoked = store.revoke(key_id=other.key_id, now=NOW + timedelta(seconds=1))
    assert revoked.state == "revoked"
    assert store.authenticate(other.token, now=NOW + timedelta(seconds=1)) is None, "revoked: at once"


def test_list_shows_every_key_and_its_state_never_a_token(store: KeyStore) -> None:
    first = store.issue(principal="support-bot", kind="actor", expires_in=timedelta(days=1), now=NOW)
    second = store.issue(principal="ana", kind="person", expires_in=None, now=NOW + timedelta(seconds=1))
    store.revoke(key_id=second.key_id, now=NOW + timedelta(seconds=2))
    listed = {key.key_id: key for key in store.list(now=NOW + timedelta(days=2))}
    assert listed[first.key_id].state == "expired" and listed[second.key_id].state == "revoked"
    assert "token" not in listed[first.key_id].model_dump()


def test_revoking_needs_a_real_key_id(store: KeyStore) -> None:
    with pytest.raises(BadRequest, match="is not a key id"):
        store.revoke(key_id="'; DROP TABLE credential; --", now=NOW)
    with pytest.raises(NotFound, match="no key k0123456789abcdef"):
        store.revoke(key_id="k0123456789abcdef", now=NOW)


def test_issue_and_revoke_are_on_the_audit_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = KeyStore(url)
    issued = store.issue(principal="farid", kind="person", expires_in=None, now=NOW)
    store.revoke(key_id=issued.key_id, now=NOW + timedelta(seconds=5))
    store.revoke(key_id=issued.key_id, now=NOW + timedelta(seconds=9))
    store.close()
    with AuditArchive(url) as archive:
        records = list(archive.query())
        assert [(r.kind, r.actor, json.loads(r.detail)["key_id"]) for r in records] == [
            ("key_issued", "farid", issued.key_id),
            ("key_revoked", "farid", issued.key_id),
        ]
        assert archive.verify().ok


def test_a_revocation_elsewhere_counts_within_a_second(url: str) -> None:
    here, elsewhere = KeyStore(url), KeyStore(url)
    try:
        now = datetime.now(UTC)
        issued = here.issue(principal="omar", kind="person", expires_in=None, now=now)
        assert here.authenticate(issued.token, now=now) is not None
        elsewhere.revoke(key_id=issued.key_id, now=now)
        assert elsewhere.authenticate(issued.token, now=now) is None, "at once where it was revoked"
        time.sleep(1.1)
        assert here.authenticate(issued.token, now=datetime.now(UTC)) is None, "within a second everywhere"
    finally:
        here.close()
        elsewhere.close()
