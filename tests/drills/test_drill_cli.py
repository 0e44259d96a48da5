"""`cxgov drills sync|run|list` against a worker with a drill ledger, in a namespace of the test's own.

The commands run in-process (`cxgov.cli.run`) on a thread, since they call `asyncio.run` while the worker runs
on the test's event loop; one run goes through the real console script. The CLI reads the ledger at
CXGOV_HOME/audit.db, the same file the worker records drills in.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from drillkit import (
    DRILLED,
    DrillStackFactory,
    UndoSwitch,
    connector_types_with,
    delete_schedules,
    own_namespace,
    pretending,
)
from harness import CHARTER
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cxgov import cli
from cxgov.sandbox.connectors import RefundConnector

CXGOV = Path(sys.executable).parent / "cxgov"


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class DrillCli:
    """`cxgov` pointed (by CXGOV_* settings) at a drill worker, its namespace and its ledger."""

    env: dict[str, str]
    undo: UndoSwitch
    capsys: pytest.CaptureFixture[str]

    async def __call__(self, *args: str) -> Ran:
        self.capsys.readouterr()
        code = await asyncio.to_thread(cli.run, list(args))
        captured = self.capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    def subprocess(self, *args: str) -> Ran:
        base = {key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")}
        done = subprocess.run([str(CXGOV), *args], env={**base, **self.env}, capture_output=True, text=True, timeout=60)
        return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def no_cxgov_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CXGOV_* setting leaks in from the shell that runs the tests."""
    for name in [name for name in os.environ if name.startswith("CXGOV_")]:
        monkeypatch.delenv(name)


@pytest_asyncio.fixture
async def drill_cli(
    dev_env: WorkflowEnvironment,
    drill_stack: DrillStackFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_cxgov_settings: None,
) -> AsyncIterator[DrillCli]:
    namespace: Client = await own_namespace(dev_env)
    undo = UndoSwitch(broken=False)
    stack = await drill_stack(
        temporal=namespace, connector_types=connector_types_with(pretending(RefundConnector, undo))
    )
    settings = {
        "CXGOV_HOME": str(tmp_path),
        "CXGOV_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CXGOV_NAMESPACE": namespace.namespace,
        "CXGOV_TASK_QUEUE": stack.task_queue,
        "CXGOV_CHARTER": str(CHARTER),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    yield DrillCli(env=settings, undo=undo, capsys=capsys)
    await delete_schedules(namespace)


def line_of(listing: str, action: str) -> str:
    [line] = [line for line in listing.splitlines() if line.strip().startswith(f"{action} ")]
    return line


async def test_drills_sync_run_and_list(drill_cli: DrillCli) -> None:
    synced = await drill_cli("drills", "sync")
    assert (synced.code, synced.err) == (0, "")
    assert sorted(synced.out.splitlines()) == sorted(f"created drill-{action} (every 30d)" for action in DRILLED)

    passed = await drill_cli("drills", "run", "refund")
    assert (passed.code, passed.err) == (0, "")
    assert passed.out == "drill of refund: PASSED (execute ok, verify ok, compensate ok, verify_restored ok)\n"

    listing = await drill_cli("drills", "list")
    assert (listing.code, listing.err) == (0, "")
    assert listing.out.splitlines()[0] == "reversal drills (charter acme-retail v3, max_age 90d)"
    refund = line_of(listing.out, "refund")
    assert "every 30d" in refund and "result passed" in refund and "last pass never" not in refund
    assert "OVERDUE" not in refund and "no schedule" not in refund and " next 20" in refund
    for action in DRILLED[1:]:
        never = line_of(listing.out, action)
        assert "last run never" in never and "result -" in never and never.endswith("OVERDUE")

    drill_cli.undo.broken = True
    failed = await drill_cli("drills", "run", "refund")
    assert failed.code == 1
    assert failed.out.startswith("drill of refund: FAILED at verify_restored: the sandbox differs from its snapshot: ")
    assert "refund: None -> {" in failed.out  # the refund the undo left behind

    listing = await drill_cli("drills", "list")
    assert listing.code == 0
    refund = line_of(listing.out, "refund")
    assert "result failed at verify_restored" in refund and refund.endswith("OVERDUE")
    assert "last pass never" not in refund  # the earlier pass is still shown
    lines = listing.out.splitlines()
    reason = lines[lines.index(refund) + 1]
    assert reason.startswith("      failed: the sandbox differs from its snapshot: ")

    rows = {row["action"]: row for row in json.loads((await drill_cli("drills", "list", "--json")).out)["drills"]}
    assert set(rows) == set(DRILLED)
    assert (rows["refund"]["every"], rows["refund"]["result"], rows["refund"]["overdue"]) == (
        "30d",
        "failed at verify_restored",
        True,
    )
    assert rows["refund"]["why"].startswith("the last reversal drill of refund failed at ")
    assert rows["refund"]["last_pass"] is not None and rows["refund"]["next_run"] is not None

    drill_cli.undo.broken = False
    again = await drill_cli("drills", "run", "refund", "--json")
    assert again.code == 0
    body = json.loads(again.out)
    assert (body["action"], body["passed"], body["charter_version"]) == ("refund", True, 3)
    assert "OVERDUE" not in line_of((await drill_cli("drills", "list")).out, "refund")

    resynced = await drill_cli("drills", "sync")
    assert resynced.code == 0
    assert sorted(resynced.out.splitlines()) == sorted(f"unchanged drill-{action} (every 30d)" for action in DRILLED)


async def test_drills_list_through_the_console_script(drill_cli: DrillCli) -> None:
    assert (await drill_cli("drills", "run", "book_appointment")).code == 0
    listed = await asyncio.to_thread(drill_cli.subprocess, "drills", "list", "--json")
    assert (listed.code, listed.err) == (0, "")
    rows = {row["action"]: row for row in json.loads(listed.out)["drills"]}
    assert (rows["book_appointment"]["result"], rows["book_appointment"]["overdue"]) == ("passed", False)
    assert rows["book_appointment"]["next_run"] is None  # no schedule synced in this namespace
    assert rows["refund"]["why"] == "the undo of refund has never been drilled: untested, so a person approves"


@pytest.mark.parametrize("action", ["share_customer_data", "close_account"])
def test_drills_run_refuses_what_cannot_be_drilled(
    action: str, no_cxgov_settings: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CXGOV_CHARTER", str(CHARTER))
    monkeypatch.setenv("CXGOV_TEMPORAL_ADDRESS", "127.0.0.1:1")  # refused before anything connects
    code = cli.run(["drills", "run", action])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == (
        f"cxgov: {action!r} is not a reversible action of charter v3 "
        "(drilled: refund, change_address, cancel_order, book_appointment)\n"
    )
