"""Fixtures for the governance answers: the reference charter, a real SQLite archive and drill ledger to fill,
and `cxgov` run in-process with CXGOV_* pointing at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from govkit import Archived
from harness import CHARTER, REFERENCE_CHARTER, Runner, in_process

from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter, load_charter
from cxgov.drills.ledger import DrillLedger


@pytest.fixture
def charter() -> Charter:
    return load_charter(REFERENCE_CHARTER)  # the unit tests judge it at a fixed NOW


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """CXGOV_HOME of the test: the archive and the drill ledger share `audit.db` in it, as under `cxgov up`."""
    return tmp_path / "home"


@pytest.fixture
def db_url(home: Path) -> str:
    return f"sqlite:///{home / 'audit.db'}"


@pytest.fixture
def archive(db_url: str) -> Iterator[AuditArchive]:
    opened = AuditArchive(db_url)
    yield opened
    opened.close()


@pytest.fixture
def ledger(db_url: str) -> Iterator[DrillLedger]:
    opened = DrillLedger(db_url)
    yield opened
    opened.close()


@pytest.fixture
def archived(archive: AuditArchive) -> Archived:
    return Archived(archive)


@pytest.fixture
def cxgov_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """CXGOV_HOME = `home`, the reference charter, no Temporal to reach; no other CXGOV_* leaks in."""
    for name in [name for name in os.environ if name.startswith("CXGOV_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CXGOV_HOME", str(home))
    monkeypatch.setenv("CXGOV_CHARTER", str(CHARTER))
    monkeypatch.setenv("CXGOV_TEMPORAL_ADDRESS", "127.0.0.1:1")


@pytest.fixture
def cxgov(capsys: pytest.CaptureFixture[str], cxgov_env: None) -> Runner:
    """`cxgov` in this process, pointed at the test's home."""
    return in_process(capsys)
