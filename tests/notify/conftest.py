"""Fixtures for the notification tests: the delivery ledger on a real SQLite file, and on PostgreSQL as well when
CXGOV_TEST_POSTGRES_URL is set (each test in a fresh schema, dropped afterwards); real SMTP and webhook
receivers, stopped after each test; notifiers closed after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from notifykit import PUBLIC_URL, Hook, Mailbox, NotifierMaker

from cxgov.notify import Notifier, NotifyRoutes, load_routes

POSTGRES_URL = os.environ.get("CXGOV_TEST_POSTGRES_URL") or None
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file under tmp_path, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'audit.db'}"
        return
    assert POSTGRES_URL is not None
    schema = f"notify_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free loopback port (no authentication)."""
    server = Mailbox()
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A real webhook receiver on a free loopback port, answering 200."""
    receiver = Hook()
    yield receiver
    receiver.stop()


@pytest.fixture
def routes_file(tmp_path: Path) -> Callable[..., NotifyRoutes]:
    """Write a notification file and load it: `routes_file(text, env={...})`."""

    def build(text: str, env: dict[str, str] | None = None) -> NotifyRoutes:
        path = tmp_path / "notify.yaml"
        path.write_text(text)
        return load_routes(path, env=env or {})

    return build


@pytest.fixture
def make_notifier(database_url: str) -> Iterator[NotifierMaker]:
    """`make_notifier(routes, **options)`: a Notifier on the test's database (closed after the test)."""
    made: list[Notifier] = []

    def build(routes: NotifyRoutes | None, **options: Any) -> Notifier:
        options.setdefault("public_url", PUBLIC_URL)
        options.setdefault("timeout", 5.0)
        notifier = Notifier(routes, database_url=database_url, **options)
        made.append(notifier)
        return notifier

    yield build
    for notifier in made:
        notifier.close()
