"""The drill workflow on the dev server: each reversible reference action's undo is proven on a fresh fixture of
its own, recorded in the ledger, and the live sandbox never sees it; an undo that only pretends is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from drillkit import DRILLED, DrillStackFactory, connector_types_with, pretending, run_drill

from cxgov.sandbox import Sandbox
from cxgov.sandbox.connectors import BookAppointmentConnector
from cxgov.sandbox.fixture import DRILL_CLINIC, DRILL_SLOT


def leftovers(workspace: Path) -> list[str]:
    """Files a drill left in its workspace (the drill's sandbox, its WAL and shm files, its seed file)."""
    return sorted(path.name for path in workspace.iterdir()) if workspace.exists() else []


@pytest.mark.parametrize("action", DRILLED)
async def test_drill_of_each_reversible_action_passes_and_leaves_no_trace(
    drill_stack: DrillStackFactory, sandbox: Sandbox, action: str
) -> None:
    stack = await drill_stack()
    live_before = sandbox.world_snapshot()

    result = await run_drill(stack, action)

    assert (result.action, result.charter_version, result.passed) == (action, 3, True)
    assert (result.failing_step, result.reason) == (None, None)
    assert result.started <= result.finished
    assert [(step.step, step.ok) for step in result.steps] == [
        ("execute", True),
        ("verify", True),
        ("compensate", True),
        ("verify_restored", True),
    ]
    assert result.steps[-1].summary == "the sandbox equals its snapshot"
    assert all(result.started <= step.at <= result.finished for step in result.steps)

    recorded = stack.ledger.drills(action=action)
    assert recorded.latest is not None and recorded.last_pass is not None
    assert recorded.latest.drill_id == recorded.last_pass.drill_id == result.drill_id
    assert (recorded.latest.charter_version, recorded.latest.passed, recorded.latest.failing_step) == (3, True, None)
    assert recorded.latest.finished - recorded.latest.started == result.finished - result.started

    # The drill ran on its own sandbox file, which is gone once recorded; the live system of record is untouched.
    assert result.workspace is not None and Path(result.workspace).parent == stack.workspace
    assert Path(result.workspace) != sandbox.path
    assert leftovers(stack.workspace) == []
    assert sandbox.world_snapshot() == live_before


async def test_an_irreversible_action_cannot_be_drilled(drill_stack: DrillStackFactory, sandbox: Sandbox) -> None:
    stack = await drill_stack()
    live_before = sandbox.world_snapshot()

    result = await run_drill(stack, "share_customer_data")

    assert (result.action, result.passed, result.failing_step, result.charter_version) == (
        "share_customer_data",
        False,
        "prepare",
        3,
    )
    assert result.reason == "share_customer_data is irreversible: there is no undo to drill"
    assert result.steps == []
    latest = stack.ledger.drills(action="share_customer_data").latest
    assert latest is not None and (latest.passed, latest.failing_step) == (False, "prepare")
    assert leftovers(stack.workspace) == []
    assert sandbox.world_snapshot() == live_before


async def test_an_undo_that_only_pretends_fails_the_drill_at_verify_restored(
    drill_stack: DrillStackFactory, sandbox: Sandbox
) -> None:
    stack = await drill_stack(connector_types=connector_types_with(pretending(BookAppointmentConnector)))
    live_before = sandbox.world_snapshot()

    result = await run_drill(stack, "book_appointment")

    assert (result.passed, result.failing_step) == (False, "verify_restored")
    # The connector's own steps all claimed success; only the comparison with the snapshot sees the truth.
    assert [(step.step, step.ok) for step in result.steps] == [
        ("execute", True),
        ("verify", True),
        ("compensate", True),
        ("verify_restored", False),
    ]
    assert result.steps[2].summary == "said the booking was undone; it was not"
    reason = result.reason
    assert reason is not None and reason.startswith("the sandbox differs from its snapshot: ")
    # It names both differences: the booking still in place, and the seat still taken.
    assert "slot.booked: 0 -> 1" in reason
    assert f"booking: None -> {{'customer': 'DRILL-C', 'clinic': '{DRILL_CLINIC}', 'slot': '{DRILL_SLOT}'" in reason

    latest = stack.ledger.drills(action="book_appointment")
    assert latest.last_pass is None
    assert latest.latest is not None
    assert (latest.latest.passed, latest.latest.failing_step, latest.latest.reason) == (
        False,
        "verify_restored",
        reason,
    )
    assert leftovers(stack.workspace) == []
    assert sandbox.world_snapshot() == live_before
