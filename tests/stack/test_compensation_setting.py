"""CXGOV_COMPENSATION_ATTEMPTS: how long the saga keeps trying an undo, read once by the worker at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxgov.errors import BadRequest
from cxgov.settings import COMPENSATION_ATTEMPTS, Settings

CXGOV = Path(sys.executable).parent / "cxgov"


def test_the_default_keeps_trying_for_minutes_and_a_setting_changes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXGOV_COMPENSATION_ATTEMPTS", raising=False)
    assert Settings().compensation_attempts == COMPENSATION_ATTEMPTS == 10
    monkeypatch.setenv("CXGOV_COMPENSATION_ATTEMPTS", "25")
    assert Settings().compensation_attempts == 25
    for bad in ("0", "-3", "ten", "2.5"):
        monkeypatch.setenv("CXGOV_COMPENSATION_ATTEMPTS", bad)
        with pytest.raises(BadRequest, match=r"CXGOV_COMPENSATION_ATTEMPTS=.* is not a whole number of at least 1"):
            Settings()


def test_a_worker_with_a_bad_setting_stops_at_start_with_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")}
    env |= {"CXGOV_HOME": str(tmp_path), "CXGOV_COMPENSATION_ATTEMPTS": "0", "CXGOV_TEMPORAL_ADDRESS": "127.0.0.1:1"}

    done = subprocess.run([str(CXGOV), "worker"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2, done
    assert "CXGOV_COMPENSATION_ATTEMPTS='0' is not a whole number of at least 1" in done.stderr
    assert "Traceback" not in done.stderr
