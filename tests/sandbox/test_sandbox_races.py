"""Concurrent steps: the database, not luck, decides that each action id has one effect and seats are not oversold."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from cxgov.errors import ConnectorRefused
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall, EffectResult

THREADS = 8

CALLS = {
    "refund": ConnectorCall(
        action_id="a-race",
        action="refund",
        customer="C-100",
        params={"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": Decimal("60")},
    ),
    "change_address": ConnectorCall(
        action_id="a-race", action="change_address", customer="C-100", params={"order_id": "O-1001", "address": "x"}
    ),
    "cancel_order": ConnectorCall(
        action_id="a-race", action="cancel_order", customer="C-100", params={"order_id": "O-1001"}
    ),
    "book_appointment": ConnectorCall(
        action_id="a-race",
        action="book_appointment",
        customer="C-100",
        params={"clinic": "north", "slot": "2026-12-01T09:00"},
    ),
    "share_customer_data": ConnectorCall(
        action_id="a-race",
        action="share_customer_data",
        customer="C-100",
        params={"recipient": "insights-partner-inc", "fields": ["name"]},
    ),
}
LEDGERS = {
    "refund": "refunds",
    "change_address": "address_changes",
    "cancel_order": "cancellations",
    "book_appointment": "bookings",
    "share_customer_data": "shares",
}


def _race(steps: list[Callable[[], EffectResult]]) -> list[EffectResult | ConnectorRefused]:
    """Run every step at once (released together by a barrier); each one's result or refusal."""
    start = threading.Barrier(len(steps))

    def run(step: Callable[[], EffectResult]) -> EffectResult | ConnectorRefused:
        start.wait()
        try:
            return step()
        except ConnectorRefused as refused:
            return refused

    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        return list(pool.map(run, steps))


@pytest.mark.parametrize("action", sorted(CALLS))
def test_the_same_action_id_from_eight_threads_has_one_effect(sandbox: Sandbox, action: str) -> None:
    connector = sandbox.connector(action)

    results = _race([lambda: connector.execute(CALLS[action])] * THREADS)

    applied = [r for r in results if isinstance(r, EffectResult) and r.applied]
    assert len(applied) == 1
    assert all(isinstance(r, EffectResult) for r in results)
    assert list(sandbox.world_snapshot()[LEDGERS[action]]) == ["a-race"]


def test_the_same_action_id_from_separate_sandboxes_has_one_effect(sandbox: Sandbox, tmp_path: Path) -> None:
    # A sandbox each stands for separate processes: only the SQLite file is shared.
    others = [Sandbox(tmp_path / "sandbox.db") for _ in range(THREADS)]

    results = _race([lambda other=other: other.connector("refund").execute(CALLS["refund"]) for other in others])

    assert sum(isinstance(r, EffectResult) and r.applied for r in results) == 1
    assert sandbox.world_snapshot()["orders"]["O-1001"]["lines"]["JACKET-BLK-L"]["refunded"] == "60"
    for other in others:
        other.close()


def test_two_bookings_racing_for_the_last_seat_get_it_once(sandbox: Sandbox, tmp_path: Path) -> None:
    other = Sandbox(tmp_path / "sandbox.db")
    calls = [
        CALLS["book_appointment"].model_copy(update={"action_id": "a-first", "customer": "C-100"}),
        CALLS["book_appointment"].model_copy(update={"action_id": "a-second", "customer": "C-200"}),
    ]

    results = _race(
        [
            lambda: sandbox.connector("book_appointment").execute(calls[0]),
            lambda: other.connector("book_appointment").execute(calls[1]),
        ]
    )

    assert sorted(type(r).__name__ for r in results) == ["ConnectorRefused", "EffectResult"]
    refused = next(r for r in results if isinstance(r, ConnectorRefused))
    assert "is full" in str(refused)
    world = sandbox.world_snapshot()
    assert world["clinics"]["north"]["2026-12-01T09:00"] == {"capacity": 2, "booked": 2}
    assert len(world["bookings"]) == 1
    other.close()


def test_eight_bookings_racing_for_one_seat_get_it_once(sandbox: Sandbox) -> None:
    connector = sandbox.connector("book_appointment")
    calls = [CALLS["book_appointment"].model_copy(update={"action_id": f"a-{n}"}) for n in range(THREADS)]

    results = _race([lambda call=call: connector.execute(call) for call in calls])

    assert sum(isinstance(r, EffectResult) for r in results) == 1
    assert sandbox.world_snapshot()["clinics"]["north"]["2026-12-01T09:00"]["booked"] == 2


def test_two_refunds_racing_for_one_line_never_exceed_its_price(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    calls = [
        CALLS["refund"].model_copy(update={"action_id": f"a-{n}", "params": {**CALLS["refund"].params}})
        for n in range(2)
    ]
    for call in calls:
        call.params["amount"] = Decimal("100")

    results = _race([lambda call=call: connector.execute(call) for call in calls])

    assert sum(isinstance(r, EffectResult) for r in results) == 1
    assert sandbox.world_snapshot()["orders"]["O-1001"]["lines"]["JACKET-BLK-L"]["refunded"] == "100"
