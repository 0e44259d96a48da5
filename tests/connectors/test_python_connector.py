"""A company's own Python system of record (examples/loyalty.py), bound by import path in a systems file.

A new action the reference charter never had (`grant_points`) is governed end to end: its drill passes in the
system's own drill sandbox, which earns the autonomy rule 5 asks for; the action lands once; the owner role
reverses it; a precondition that turns false is caught.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import CERTIFIED_UNTIL, Stack, start_stack
from temporalio.testing import WorkflowEnvironment

from cxgov.charter import load_charter
from cxgov.connection import governed
from cxgov.connectors import load_systems
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, DrillInput, DrillResult, Outcome, Status
from workflows.drill import DrillWorkflow

LOYALTY = Path(__file__).resolve().parents[2] / "examples" / "loyalty"


def certified_charter(tmp_path: Path) -> Path:
    """examples/loyalty/charter.yaml with support-bot certified until 2099, as the harness does for the reference."""
    text = (LOYALTY / "charter.yaml").read_text()
    assert text.count("recertify_by: 2027-03-01") == 1
    path = tmp_path / "charter.yaml"
    path.write_text(text.replace("recertify_by: 2027-03-01", f"recertify_by: {CERTIFIED_UNTIL}-03-01"))
    return path


@pytest_asyncio.fixture
async def loyalty_stack(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    """A worker bound by examples/loyalty/systems.yaml (loyalty.db in tmp_path) with its example charter."""
    charter = certified_charter(tmp_path)
    monkeypatch.setenv("LOYALTY_DB", str(tmp_path / "loyalty.db"))
    systems = load_systems(LOYALTY / "systems.yaml", home=tmp_path / "home")
    assert systems.problems(load_charter(charter)) == []
    ledger = DrillLedger(f"sqlite:///{tmp_path / 'audit.db'}")
    built, worker = await start_stack(
        governed(dev_env.client),
        sandbox,
        charter_path=charter,
        systems=systems,
        drills=ledger,
        drill_workspace=tmp_path / "drills",
    )
    try:
        async with worker:
            yield built
    finally:
        systems.close()
        ledger.close()


async def grant(stack: Stack, points: str, *, customer: str = "C-100") -> ActionState:
    """support-bot grants `points` to `customer` by chat, and the action as it settles."""
    request = stack.client.request(
        actor="support-bot",
        action="grant_points",
        customer=customer,
        channel="chat",
        reason="goodwill",
        params={"points": points},
    )
    return await stack.client.act(request, wait=20)


async def test_a_new_action_on_a_python_system_is_drilled_governed_and_reversed(
    loyalty_stack: Stack, tmp_path: Path
) -> None:
    stack = loyalty_stack
    untested = await grant(stack, "10")
    assert untested.status == Status.AWAITING_APPROVAL and untested.decision is not None
    assert untested.decision.rule == "5-drill", "never drilled: a person approves"

    drill: DrillResult = await stack.temporal.execute_workflow(
        DrillWorkflow.run, DrillInput(action="grant_points"), id="drill-grant_points-test", task_queue=stack.task_queue
    )
    assert drill.passed, drill.reason
    assert [step.step for step in drill.steps] == ["execute", "verify", "compensate", "verify_restored"]
    assert not (tmp_path / "drills").exists() or list((tmp_path / "drills").iterdir()) == []

    allowed = await grant(stack, "150")
    assert allowed.status == Status.COMPLETED and allowed.decision is not None
    assert allowed.decision.outcome == Outcome.ALLOW
    live = sqlite3.connect(tmp_path / "loyalty.db")
    assert live.execute("SELECT member, points, undone FROM grant_").fetchall() == [("C-100", "150", 0)]
    assert live.execute("SELECT count(*) FROM member WHERE id = 'DRILL'").fetchone() == (0,), "drills stay out"

    reversed_ = await stack.client.reverse(allowed.action_id, person="ana", reason="granted by mistake")
    assert reversed_.status == Status.REVERSED
    assert live.execute("SELECT undone FROM grant_").fetchall() == [(1,)]

    live.execute("UPDATE member SET active = 0 WHERE id = 'C-200'")
    live.commit()
    closed = await grant(stack, "20", customer="C-200")
    live.close()
    assert closed.status == Status.DENIED and closed.decision is not None
    assert closed.decision.reasons == ["C-200's account is closed"]
