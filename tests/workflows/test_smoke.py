from __future__ import annotations

from harness import Stack

from cxgov.wire import Status


async def test_allowed_refund_completes(stack: Stack) -> None:
    request = stack.client.request(
        actor="support-bot",
        action="refund",
        customer="C-100",
        channel="chat",
        reason="damaged",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"},
    )
    state = await stack.client.act(request, wait=20)
    print(state.model_dump_json(indent=1))
    assert state.status == Status.COMPLETED
