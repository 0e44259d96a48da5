"""The change-address and cancel-order connectors against the reference world."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cxgov.errors import ConnectorRefused, NotFound
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall


def change_address(
    address: str = "7 New Rd, Ogdenville", *, order: str = "O-1001", customer: str = "C-100", action_id: str = "a-addr"
) -> ConnectorCall:
    return ConnectorCall(
        action_id=action_id,
        action="change_address",
        customer=customer,
        params={"order_id": order, "address": address},
    )


def cancel(*, order: str = "O-1001", customer: str = "C-100", action_id: str = "a-cancel") -> ConnectorCall:
    return ConnectorCall(action_id=action_id, action="cancel_order", customer=customer, params={"order_id": order})


def test_change_address_check(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("change_address")
    declared = ["not_dispatched"]

    assert connector.check(change_address(), preconditions=declared, now=load_moment) == []
    assert connector.check(change_address(order="O-1002"), preconditions=declared, now=load_moment) == [
        "order O-1002 belongs to customer C-200, not C-100"
    ]
    assert connector.check(
        change_address(order="O-1002", customer="C-200"), preconditions=declared, now=load_moment
    ) == ["precondition not_dispatched is false: order O-1002 was dispatched at 2026-11-27T12:00:00Z"]
    assert connector.check(change_address("  "), preconditions=[], now=load_moment) == ["the new address is empty"]


def test_change_address_execute_verify_compensate(sandbox: Sandbox) -> None:
    connector = sandbox.connector("change_address")
    before = sandbox.world_snapshot()

    assert connector.execute(change_address()).applied
    assert not connector.execute(change_address()).applied
    assert sandbox.world_snapshot()["orders"]["O-1001"]["address"] == "7 New Rd, Ogdenville"
    assert connector.verify(change_address()).ok
    assert connector.snapshot(change_address())["address_change"] == {
        "old": "1 Main St, Springfield",
        "new": "7 New Rd, Ogdenville",
        "reverted": False,
    }

    assert connector.compensate(change_address()).undone
    again = connector.compensate(change_address())
    assert again.undone and "already undone" in again.summary  # a retry answers as the first call did
    assert sandbox.world_snapshot() == before
    assert not connector.verify(change_address()).ok


def test_change_address_is_final_once_dispatched(sandbox: Sandbox) -> None:
    connector = sandbox.connector("change_address")
    connector.execute(change_address())
    assert "dispatched" in sandbox.dispatch(order="O-1001")
    before = sandbox.world_snapshot()

    with pytest.raises(ConnectorRefused, match="its address can no longer be restored"):
        connector.compensate(change_address())

    assert sandbox.world_snapshot() == before


def test_change_address_does_not_overwrite_a_later_change(sandbox: Sandbox) -> None:
    connector = sandbox.connector("change_address")
    connector.execute(change_address("2 Second St", action_id="a-first"))
    connector.execute(change_address("3 Third St", action_id="a-second"))
    before = sandbox.world_snapshot()

    with pytest.raises(ConnectorRefused, match="now ships to '3 Third St'"):
        connector.compensate(change_address("2 Second St", action_id="a-first"))
    assert sandbox.world_snapshot() == before

    # Undone in reverse order, the saga way, both come back.
    assert connector.compensate(change_address("3 Third St", action_id="a-second")).undone
    assert connector.compensate(change_address("2 Second St", action_id="a-first")).undone
    assert sandbox.world_snapshot()["orders"]["O-1001"]["address"] == "1 Main St, Springfield"


def test_cancel_order_check(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("cancel_order")
    declared = ["placed_within_24h"]

    assert connector.check(cancel(), preconditions=declared, now=load_moment) == []
    assert connector.check(cancel(order="O-1002", customer="C-200"), preconditions=declared, now=load_moment) == [
        "precondition placed_within_24h is false: order O-1002 was placed at 2026-11-24T12:00:00Z, 3d 0h before now"
    ]
    # Two hours old at load; a day later it is past the limit.
    later = load_moment + timedelta(hours=22)
    assert connector.check(cancel(), preconditions=declared, now=later) != []


def test_cancel_order_execute_verify_compensate(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("cancel_order")
    before = sandbox.world_snapshot()

    assert connector.execute(cancel()).applied
    assert not connector.execute(cancel()).applied
    assert sandbox.world_snapshot()["orders"]["O-1001"]["cancelled"] is True
    assert connector.verify(cancel()).ok
    assert connector.check(cancel(action_id="a-other"), preconditions=[], now=load_moment) == [
        "order O-1001 was already cancelled"
    ]
    with pytest.raises(ConnectorRefused, match="already cancelled"):
        connector.execute(cancel(action_id="a-other"))

    assert connector.compensate(cancel()).undone
    assert connector.compensate(cancel()).undone  # a retry answers as the first call did
    assert sandbox.world_snapshot() == before
    assert not connector.verify(cancel()).ok


def test_a_cancelled_order_cannot_change_address(sandbox: Sandbox, load_moment: datetime) -> None:
    sandbox.connector("cancel_order").execute(cancel())
    reasons = sandbox.connector("change_address").check(change_address(), preconditions=[], now=load_moment)
    assert reasons == ["order O-1001 is cancelled"]


def test_dispatch_and_payout_need_a_known_order(sandbox: Sandbox) -> None:
    with pytest.raises(NotFound, match="order O-9999 does not exist"):
        sandbox.dispatch(order="O-9999")
    with pytest.raises(NotFound, match="order O-9999 does not exist"):
        sandbox.payout(order="O-9999")
    assert "no pending refunds" in sandbox.payout(order="O-1001")
    assert "already dispatched" in sandbox.dispatch(order="O-1002")
