"""The system of record goes down and comes back: no half-done action, and work resumes by itself.

The example shop (examples/shop) is the system of record, reached through the declarative HTTP connector bound by
examples/systems.yaml; it runs as a real process on a fixed loopback port with its own SQLite file, and is
SIGKILLed and started again on the same port and file. The worker (in this process, on the session's Temporal
dev server) is never restarted. The shop's own write log, kept in its file, shows what reached it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from connectors.shopkit import REPO, TOKEN
from harness import Stack, start_stack, terminate_running
from outagekit import ShopOnPort, closed, refund_request
from temporalio.testing import WorkflowEnvironment

from cxgov.connectors import load_systems
from cxgov.sandbox import Sandbox
from cxgov.wire import Status


SYSTEMS = REPO / "examples" / "systems.yaml"


@dataclass
class ShopWorld:
    stack: Stack
    shop: ShopOnPort


@pytest_asyncio.fixture
async def shop_world(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ShopWorld]:
    shop = ShopOnPort(tmp_path / "shop.db")
    shop.start()
    try:
        monkeypatch.setenv("SHOP_URL", shop.url)
        monkeypatch.setenv("SHOP_SANDBOX_URL", "http://127.0.0.1:1")  # no drill runs here
        monkeypatch.setenv("SHOP_TOKEN", TOKEN)
        monkeypatch.setenv("SHOP_TIMEOUT", "2s")
        systems = load_systems(SYSTEMS, home=tmp_path / "home")
        built, worker = await start_stack(dev_env.client, sandbox, systems=systems, step_timeout=5)
        async with worker:
            yield ShopWorld(stack=built, shop=shop)
            await terminate_running(built.temporal, built.task_queue)
        systems.close()
    finally:
        shop.stop()


async def test_experiment_down_after_approval(shop_world: ShopWorld) -> None:
    stack, shop = shop_world.stack, shop_world.shop
    assert shop.shop is not None
    order = shop.shop.new_order(price="200")
    waiting = await stack.client.act(refund_request(stack, {"order_id": order, "sku": "MUG-BLUE", "amount": "120"}), wait=20)
    assert waiting.status == Status.AWAITING_APPROVAL, waiting
    shop.kill()
    result = await stack.client.decide(waiting.action_id, verdict="approve", person="ana", reason="photo checked")
    assert result.accepted
    import time

    t = time.monotonic()
    try:
        done = await closed(stack, waiting.action_id, within=60)
        print("DONE", done.model_dump_json(indent=1))
    except Exception as err:
        print("ERR", type(err), err)
        desc = await stack.temporal.get_workflow_handle(waiting.action_id).describe()
        print("STATUS", desc.status)
    print("took", time.monotonic() - t)
