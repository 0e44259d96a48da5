"""Fixtures for the CLI tests: a worker on the session's worker loop, and `cxgov` pointed at it by environment variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from clikit import BackgroundWorker, CliStack, child_env, cxgov_env
from harness import CHARTER, in_process
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CXGOV_* setting leaks in from the shell that runs the tests."""
    for name in [name for name in os.environ if name.startswith("CXGOV_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def cli_stack(
    dev_env: WorkflowEnvironment,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: None,
) -> Iterator[CliStack]:
    """A worker on its own task queue and sandbox (tmp_path/sandbox.db); CXGOV_* set for in-process runs."""
    address = dev_env.client.service_client.config.target_host
    worker = BackgroundWorker(address=address, sandbox=sandbox, home=tmp_path).start()
    settings = cxgov_env(
        home=tmp_path, address=address, task_queue=worker.task_queue, charter=CHARTER, api_url=worker.api_url
    )
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    try:
        yield CliStack(
            home=tmp_path,
            address=address,
            task_queue=worker.task_queue,
            charter=CHARTER,
            sandbox=sandbox,
            env=child_env(settings),
            run=in_process(capsys),
        )
    finally:
        worker.stop()
