"""The system of record goes down and comes back: no half-done action, and work resumes by itself.

The example shop (examples/shop) is the system of record for refunds, reached through the declarative HTTP
connector as examples/systems.yaml binds it. It runs as a real process on a fixed loopback port with its own
SQLite file, is SIGKILLed, and is started again on the same port and file. The worker (in this process, on the
session's Temporal dev server) is never restarted. The shop's write log, kept in its file, shows every write that
reached it, with its Idempotency-Key (the action id).

Already covered in tests/connectors/test_shop_end_to_end.py, and not repeated here: a shop that was never up
denies at decision time (4-system-of-record), a single 503 or a slow write is retried and lands once, and a
failed read-back is compensated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from connectors.shopkit import REPO, TOKEN, Shop
from harness import TEST_COMPENSATION_ATTEMPTS, Stack, eventually, start_stack, terminate_running
from outagekit import ShopOnPort, closed, refund_request
from temporalio.testing import WorkflowEnvironment

from cxgov.connectors import load_systems
from cxgov.sandbox import Sandbox
from cxgov.settings import COMPENSATION_ATTEMPTS
from cxgov.wire import ActionState, Status
from workflows.action import CX_STATUS

SYSTEMS = REPO / "examples" / "systems.yaml"
UNREACHABLE_REASON = "system shop cannot be reached"
UNREADABLE_READ = "system shop cannot be reached for the line read"
"""The refund's fresh snapshot before execute (examples/systems.yaml: snapshot part `line`)."""


@dataclass
class ShopWorld:
    """A running worker whose refunds go to the shop, and the shop process the test may kill and restart."""

    stack: Stack
    shop: ShopOnPort

    @property
    def live(self) -> Shop:
        assert self.shop.shop is not None
        return self.shop.shop

    def writes_of(self, action_id: str) -> list[dict[str, Any]]:
        """The writes that reached the shop with `action_id` as their Idempotency-Key."""
        return [write for write in self.live.writes() if write["key"] == action_id]

    def refunded(self, order: str) -> str:
        return str(self.live.get(f"/orders/{order}")["lines"][0]["refunded"])


@pytest_asyncio.fixture
async def shop_world(
    request: pytest.FixtureRequest,
    dev_env: WorkflowEnvironment,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[ShopWorld]:
    """The worker tries compensations TEST_COMPENSATION_ATTEMPTS times, or as many as the test's parameter says."""
    attempts = int(getattr(request, "param", TEST_COMPENSATION_ATTEMPTS))
    shop = ShopOnPort(tmp_path / "shop.db")
    shop.start()
    try:
        monkeypatch.setenv("SHOP_URL", shop.url)
        monkeypatch.setenv("SHOP_SANDBOX_URL", "http://127.0.0.1:1")  # no drill runs in these tests
        monkeypatch.setenv("SHOP_TOKEN", TOKEN)
        monkeypatch.setenv("SHOP_TIMEOUT", "2s")
        systems = load_systems(SYSTEMS, home=tmp_path / "home")
        try:
            built, worker = await start_stack(
                dev_env.client, sandbox, systems=systems, step_timeout=5, compensation_attempts=attempts
            )
            async with worker:
                yield ShopWorld(stack=built, shop=shop)
                await terminate_running(built.temporal, built.task_queue)
        finally:
            systems.close()
    finally:
        shop.stop()


def refund(world: ShopWorld, order: str, amount: str) -> Any:
    return refund_request(world.stack, {"order_id": order, "sku": "MUG-BLUE", "amount": amount})


async def approved(world: ShopWorld, waiting: ActionState) -> None:
    """ana (support lead) approves the waiting refund; her approval is accepted."""
    result = await world.stack.client.decide(waiting.action_id, verdict="approve", person="ana", reason="photo checked")
    assert result.accepted, result.refusal


async def test_down_at_decision_time_denies_then_a_new_action_works_once_it_is_back(shop_world: ShopWorld) -> None:
    world, stack = shop_world, shop_world.stack
    order = world.live.new_order()
    world.shop.kill()

    denied = await stack.client.act(refund(world, order, "40"), wait=30)

    assert denied.status == Status.DENIED, denied
    assert denied.decision is not None and denied.decision.rule == "4-system-of-record"
    assert UNREACHABLE_REASON in denied.decision.reasons[0], denied.decision.reasons
    assert denied.steps == [] and denied.effect is None

    # Back on the same port with the same file; the worker was left alone.
    world.shop.start()
    assert world.writes_of(denied.action_id) == [], "the denied refund never reached the shop"
    assert world.refunded(order) == "0.00"
    done = await stack.client.act(refund(world, order, "40"), wait=30)
    assert done.status == Status.COMPLETED, done
    assert [write["status"] for write in world.writes_of(done.action_id)] == [201]
    assert world.refunded(order) == "40.00"


async def test_down_after_the_approval_ends_denied_with_nothing_changed(shop_world: ShopWorld) -> None:
    world, stack = shop_world, shop_world.stack
    order = world.live.new_order(price="200")
    waiting = await stack.client.act(refund(world, order, "120"), wait=20)
    assert waiting.status == Status.AWAITING_APPROVAL, waiting

    # Hours may pass between a decision and its approval; the shop goes down in between.
    world.shop.kill()
    await approved(world, waiting)
    done = await closed(stack, waiting.action_id, within=50)

    assert done.status == Status.DENIED, done
    assert done.decision is not None and done.decision.rule == "4-system-of-record"
    [reason] = done.decision.reasons
    assert reason.startswith("at execute: ") and UNREADABLE_READ in reason and reason.endswith("nothing was changed")
    assert done.steps == [] and done.effect is None and done.settled_at is not None
    assert [(record.person, record.accepted) for record in done.approvals] == [("ana", True)]
    # The record is settled, not stuck: the workflow completed and visibility says denied.
    described = await stack.temporal.get_workflow_handle(waiting.action_id).describe()
    assert described.typed_search_attributes.get(CX_STATUS) == Status.DENIED.value

    world.shop.start()
    assert world.writes_of(waiting.action_id) == [], "nothing reached the shop"
    assert world.refunded(order) == "0.00"
    again = await stack.client.act(refund(world, order, "120"), wait=20)
    assert again.status == Status.AWAITING_APPROVAL, again
    await approved(world, again)
    finished = await closed(stack, again.action_id, within=30)
    assert finished.status == Status.COMPLETED, finished
    assert world.refunded(order) == "120.00"


async def test_down_after_the_write_landed_keeps_the_effect_on_the_record(shop_world: ShopWorld) -> None:
    world, stack = shop_world, shop_world.stack
    order = world.live.new_order()
    # The read-back stalls in the shop (the connector gives up after 2 s and retries), so the shop can die
    # after it stored the refund and before anyone read it back.
    world.live.fault(path_prefix="/refunds/", delay=30)
    handle = await stack.client.start(refund(world, order, "30"))

    async def writes() -> list[dict[str, Any]]:
        return world.writes_of(handle.id)

    [landed] = await eventually(writes, lambda found: len(found) == 1, within=30, what="the refund lands")
    assert landed["status"] == 201
    world.shop.kill()
    done = await closed(stack, handle.id, within=55)

    # The effect could be neither read back nor undone while the shop was down: it stays on the action's record,
    # with the refund's id, and the reversal owner role (finance-ops) is told to undo it.
    assert done.status == Status.COMPENSATION_FAILED, done
    assert [(step.step, step.ok) for step in done.steps] == [("execute", True), ("compensate", False)]
    assert done.error is not None and UNREACHABLE_REASON in done.error
    assert UNREACHABLE_REASON in done.steps[1].summary
    assert done.escalated_to == ["farid"]
    assert done.effect is not None
    refund_id = done.effect["refund_id"]

    world.shop.start()
    assert world.live.get(f"/refunds/{refund_id}")["status"] == "pending", "the shop holds the refund on record"
    assert world.refunded(order) == "30.00"
    after = await stack.client.act(refund(world, order, "10"), wait=30)
    assert after.status == Status.COMPLETED, after
    assert world.refunded(order) == "40.00"


async def compensation_attempts_failed(world: ShopWorld, action_id: str) -> int:
    """How many attempts of the action's compensation have failed so far (0 while it has not started)."""
    described = await world.stack.temporal.get_workflow_handle(action_id).describe()
    pending = [
        activity
        for activity in described.raw_description.pending_activities
        if activity.activity_type.name == "compensate_action"
    ]
    return pending[0].attempt - 1 if pending else 0


@pytest.mark.parametrize("shop_world", [COMPENSATION_ATTEMPTS], indirect=True)
async def test_back_while_the_saga_still_tries_the_undo_is_compensated_once(shop_world: ShopWorld) -> None:
    """With the production default, the saga keeps trying the undo for minutes: a shop that is down for a moment
    is undone when it is back, instead of leaving the effect for a person to undo."""
    world, stack = shop_world, shop_world.stack
    order = world.live.new_order()
    world.live.fault(path_prefix="/refunds/", delay=30)  # the read-back stalls, as in the test above
    handle = await stack.client.start(refund(world, order, "30"))

    async def writes() -> list[dict[str, Any]]:
        return world.writes_of(handle.id)

    await eventually(writes, lambda found: len(found) == 1, within=30, what="the refund lands")
    world.shop.kill()

    async def failed_attempts() -> int:
        return await compensation_attempts_failed(world, handle.id)

    await eventually(failed_attempts, lambda failed: failed >= 2, within=60, what="two undo attempts fail")
    world.shop.start()
    done = await closed(stack, handle.id, within=60)

    assert done.status == Status.COMPENSATED, done
    assert [(step.step, step.ok) for step in done.steps] == [("execute", True), ("compensate", True)]
    assert done.escalated_to == [], "nobody is paged for an undo that went through"
    assert world.refunded(order) == "0.00", "the refund was undone"
    [undo] = [write for write in world.live.writes() if write["key"] == f"{handle.id}/compensate"]
    assert undo["path"].endswith("/reverse") and undo["status"] == 200, undo
