"""The sandbox as a whole: its file, its connectors, the simulated system-of-record events, its snapshot."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from cxgov.connectors import Connector
from cxgov.errors import BadRequest, NotFound
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall

ACTIONS = ["book_appointment", "cancel_order", "change_address", "refund", "share_customer_data"]


def test_the_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "sandbox.db"
    sandbox = Sandbox(path)

    assert path.exists()
    assert sandbox.is_empty()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    sandbox.close()


def test_every_reference_action_has_a_connector(sandbox: Sandbox) -> None:
    assert sorted(sandbox.connectors) == ACTIONS
    for action in ACTIONS:
        connector: Connector = sandbox.connector(action)
        assert connector.action == action


def test_an_unknown_action_names_the_known_ones(sandbox: Sandbox) -> None:
    with pytest.raises(NotFound, match=f"no connector for action 'teleport'; it has: {', '.join(ACTIONS)}"):
        sandbox.connector("teleport")


def test_a_call_for_another_action_is_a_bad_request(sandbox: Sandbox) -> None:
    call = ConnectorCall(action_id="a-1", action="cancel_order", customer="C-100", params={"order_id": "O-1001"})
    with pytest.raises(BadRequest, match="refund connector was called for action 'cancel_order'"):
        sandbox.connector("refund").execute(call)


def test_dispatch_ends_the_order_in_transit(sandbox: Sandbox) -> None:
    summary = sandbox.dispatch(order="O-1001")

    assert summary.startswith("order O-1001 dispatched at ")
    order = sandbox.world_snapshot()["orders"]["O-1001"]
    assert order["dispatched"] is True and order["dispatched_at"] is not None


def test_a_cancelled_order_is_not_dispatched(sandbox: Sandbox) -> None:
    call = ConnectorCall(action_id="a-1", action="cancel_order", customer="C-100", params={"order_id": "O-1001"})
    sandbox.connector("cancel_order").execute(call)

    with pytest.raises(BadRequest, match="order O-1001 is cancelled"):
        sandbox.dispatch(order="O-1001")


def test_payout_pays_out_pending_refunds_of_that_order_only(sandbox: Sandbox) -> None:
    refund = sandbox.connector("refund")
    for action_id, order, customer, sku in [
        ("a-1", "O-1001", "C-100", "TEE-RED-M"),
        ("a-2", "O-1001", "C-100", "JACKET-BLK-L"),
        ("a-3", "O-1003", "C-300", "COAT-NAVY-M"),
    ]:
        params = {"order_id": order, "sku": sku, "amount": Decimal("10.50")}
        refund.execute(ConnectorCall(action_id=action_id, action="refund", customer=customer, params=params))

    summary = sandbox.payout(order="O-1001")

    assert summary == "order O-1001: paid out 2 pending refund(s) totalling 21.00; they are now final"
    refunds = sandbox.world_snapshot()["refunds"]
    assert [refunds[a]["paid_out"] for a in ("a-1", "a-2", "a-3")] == [True, True, False]
    assert sandbox.payout(order="O-1001") == "order O-1001: no pending refunds to pay out"


def test_world_snapshot_is_plain_json_in_a_fixed_order(sandbox: Sandbox) -> None:
    snapshot = sandbox.world_snapshot()

    assert json.loads(json.dumps(snapshot)) == snapshot
    assert json.dumps(snapshot) == json.dumps(sandbox.world_snapshot())
    assert list(snapshot) == [
        "customers",
        "orders",
        "clinics",
        "recipients",
        "refunds",
        "address_changes",
        "cancellations",
        "bookings",
        "shares",
    ]


def test_a_second_sandbox_on_the_same_file_sees_the_same_world(sandbox: Sandbox) -> None:
    other = Sandbox(sandbox.path)
    call = ConnectorCall(
        action_id="a-1",
        action="book_appointment",
        customer="C-300",
        params={"clinic": "north", "slot": "2026-12-01T09:00"},
    )
    other.connector("book_appointment").execute(call)

    assert sandbox.world_snapshot() == other.world_snapshot()
    assert sandbox.world_snapshot()["bookings"]["a-1"]["customer"] == "C-300"
    other.close()
