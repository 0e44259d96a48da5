"""Fixtures for the sandbox tests: each test gets its own SQLite file, seeded from the reference world."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxgov.sandbox import Sandbox

REFERENCE_SEED = Path(__file__).resolve().parents[2] / "examples" / "sandbox.yaml"
LOAD_MOMENT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def reference_seed() -> Path:
    """The reference seed file, exactly as shipped."""
    return REFERENCE_SEED


@pytest.fixture
def load_moment() -> datetime:
    """The moment the reference world is loaded at; relative times count back from it."""
    return LOAD_MOMENT


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox on its own file, holding the reference world loaded at `LOAD_MOMENT`."""
    opened = Sandbox(tmp_path / "sandbox.db")
    opened.load_world(seed=REFERENCE_SEED, now=LOAD_MOMENT)
    yield opened
    opened.close()
