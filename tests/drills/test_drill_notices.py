"""Drills tell the reversal owners: a failed drill at once, an overdue one from the hourly drills-watch, once per
overdue spell however often the watch runs (a real webhook receiver stands in for the role's channel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drillkit import DrillStackFactory, connector_types_with, pretending, run_drill
from harness import eventually
from notify.notifykit import PUBLIC_URL, Hook, write

from cxgov.charter import CharterCache
from cxgov.notify import Notifier, load_routes
from cxgov.sandbox.connectors import BookAppointmentConnector
from cxgov.wire import DrillWatchInput
from workflows.drill import DrillWatchWorkflow


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.stop()


@pytest.fixture
def notifier(tmp_path: Path, hook: Hook) -> Iterator[Notifier]:
    """support-lead (book_appointment's, change_address's and cancel_order's reversal owner) has a webhook."""
    routes = write(tmp_path / "notify.yaml", f'roles:\n  support-lead: ["{hook.url("json", "/support-lead")}"]\n')
    charters = CharterCache(Path(__file__).resolve().parents[2] / "examples" / "charter.yaml")
    made = Notifier(
        load_routes(routes, env={}),
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        public_url=PUBLIC_URL,
        members=lambda role: charters.get().active_members(role),
    )
    yield made
    made.close()


async def test_a_failed_drill_tells_the_owner_role(
    drill_stack: DrillStackFactory, notifier: Notifier, hook: Hook
) -> None:
    stack = await drill_stack(
        connector_types=connector_types_with(pretending(BookAppointmentConnector)), notifier=notifier
    )

    result = await run_drill(stack, "book_appointment")

    assert (result.passed, result.failing_step) == (False, "verify_restored")
    [told] = await eventually(lambda: _requests(hook), lambda found: len(found) == 1, what="the drill failure is told")
    payload = told.json()
    assert payload["title"] == "Reversal drill failed: book_appointment"
    assert payload["type"] == "warning"
    assert payload["message"].startswith("The reversal drill of book_appointment failed at verify_restored: ")
    assert (
        "Until a drill of book_appointment passes, its requests escalate to the approval ladder." in payload["message"]
    )
    assert payload["message"].endswith(f"{PUBLIC_URL}/drills")


async def test_the_watch_tells_each_overdue_drill_once(
    drill_stack: DrillStackFactory, notifier: Notifier, hook: Hook
) -> None:
    stack = await drill_stack(notifier=notifier)
    await run_drill(stack, "refund")  # refund passes now; the other reversible actions were never drilled

    for run in range(2):
        told = await stack.temporal.execute_workflow(
            DrillWatchWorkflow.run,
            DrillWatchInput(),
            id=f"drills-watch-test-{run}-{stack.task_queue}",
            task_queue=stack.task_queue,
        )
        assert told == 3
    found = await eventually(lambda: _requests(hook), lambda found: len(found) == 3, what="three overdue drills told")

    titles = sorted(request.json()["title"] for request in found)
    assert titles == [
        "Reversal drill overdue: book_appointment",
        "Reversal drill overdue: cancel_order",
        "Reversal drill overdue: change_address",
    ]
    assert all("Run one now: cxgov drills run " in request.json()["message"] for request in found)
    await eventually(lambda: _requests(hook), lambda again: len(again) == 3, what="and nothing twice")


async def _requests(hook: Hook) -> list[object]:
    return list(hook.requests)
