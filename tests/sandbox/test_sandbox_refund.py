"""The refund connector against the reference world."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from cxgov.errors import BadRequest, ConnectorRefused
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall


def refund(
    amount: str, *, sku: str = "TEE-RED-M", order: str = "O-1001", customer: str = "C-100", action_id: str = "a-refund"
) -> ConnectorCall:
    """A refund call as it arrives from the wire (money travels as text)."""
    call = ConnectorCall(
        action_id=action_id,
        action="refund",
        customer=customer,
        params={"order_id": order, "sku": sku, "amount": Decimal(amount)},
    )
    return ConnectorCall.model_validate_json(call.model_dump_json())


def test_check_passes_for_a_line_of_the_customers_own_order(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("refund")
    assert set(connector.preconditions) == {"not_dispatched", "placed_within_24h"}
    declared = ["not_dispatched", "placed_within_24h"]
    assert connector.check(refund("40"), preconditions=declared, now=load_moment) == []


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (refund("10", order="O-1002"), "order O-1002 belongs to customer C-200, not C-100"),
        (refund("10", order="O-4040"), "order O-4040 does not exist"),
        (
            refund("10", sku="COAT-NAVY-M"),
            "SKU COAT-NAVY-M is not a line of order O-1001 (its lines: FINAL-SOCKS-3P, JACKET-BLK-L, TEE-RED-M)",
        ),
        (refund("40.01"), "refund of 40.01 exceeds what is left to refund on order O-1001 line TEE-RED-M: 40 of 40"),
        (refund("0"), "a refund must be more than 0, got 0"),
    ],
)
def test_check_names_what_stands_in_the_way(
    sandbox: Sandbox, load_moment: datetime, call: ConnectorCall, reason: str
) -> None:
    assert sandbox.connector("refund").check(call, preconditions=[], now=load_moment) == [reason]


def test_check_reports_each_false_precondition(sandbox: Sandbox, load_moment: datetime) -> None:
    call = refund("10", order="O-1002", sku="BOOTS-BRN-42", customer="C-200")
    reasons = sandbox.connector("refund").check(
        call, preconditions=["not_dispatched", "placed_within_24h"], now=load_moment
    )
    assert reasons == [
        "precondition not_dispatched is false: order O-1002 was dispatched at 2026-11-27T12:00:00Z",
        "precondition placed_within_24h is false: order O-1002 was placed at 2026-11-24T12:00:00Z, 3d 0h before now",
    ]


def test_check_refuses_a_precondition_it_cannot_check(sandbox: Sandbox, load_moment: datetime) -> None:
    with pytest.raises(ValueError, match="cannot check precondition capacity"):
        sandbox.connector("refund").check(refund("1"), preconditions=["capacity"], now=load_moment)
    with pytest.raises(ValueError, match="cannot check precondition in_stock"):
        sandbox.connector("refund").check(refund("1"), preconditions=["in_stock"], now=load_moment)


def test_a_missing_param_is_a_bad_request(sandbox: Sandbox, load_moment: datetime) -> None:
    call = ConnectorCall(action_id="a-1", action="refund", customer="C-100", params={"order_id": "O-1001"})
    with pytest.raises(BadRequest, match="parameter 'sku' is missing"):
        sandbox.connector("refund").check(call, preconditions=[], now=load_moment)


def test_execute_twice_has_one_effect(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")

    first = connector.execute(refund("25"))
    second = connector.execute(refund("25"))

    assert (first.applied, second.applied) == (True, False)
    world = sandbox.world_snapshot()
    assert list(world["refunds"]) == ["a-refund"]
    assert world["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] == "25"


def test_execute_rechecks_what_is_left_and_refuses_without_effect(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("refund")
    late = refund("30", action_id="a-late")
    assert connector.check(late, preconditions=[], now=load_moment) == []
    connector.execute(refund("30", action_id="a-first"))
    before = sandbox.world_snapshot()

    with pytest.raises(ConnectorRefused, match="exceeds what is left to refund on order O-1001 line TEE-RED-M: 10"):
        connector.execute(late)

    assert sandbox.world_snapshot() == before


def test_the_same_action_id_asking_for_another_refund_is_refused(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    connector.execute(refund("20"))

    with pytest.raises(ConnectorRefused, match="already recorded a different refund"):
        connector.execute(refund("21"))


def test_verify_reads_the_refund_back(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    assert not connector.verify(refund("20")).ok

    connector.execute(refund("20"))

    result = connector.verify(refund("20"))
    assert result.ok
    assert "pending payout" in result.summary


def test_compensate_restores_the_world_and_frees_the_amount(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("refund")
    before = sandbox.world_snapshot()
    connector.execute(refund("40"))

    first = connector.compensate(refund("40"))
    second = connector.compensate(refund("40"))

    assert first.undone
    assert second.undone and "already undone" in second.summary  # a retry answers as the first call did
    assert sandbox.world_snapshot() == before
    assert not connector.verify(refund("40")).ok
    assert connector.check(refund("40", action_id="a-again"), preconditions=[], now=load_moment) == []


def test_compensate_with_nothing_recorded_undoes_nothing(sandbox: Sandbox) -> None:
    result = sandbox.connector("refund").compensate(refund("5"))
    assert not result.undone
    assert "nothing to undo" in result.summary


def test_compensate_after_payout_is_refused(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    connector.execute(refund("40"))
    assert "paid out 1 pending refund" in sandbox.payout(order="O-1001")
    before = sandbox.world_snapshot()

    with pytest.raises(ConnectorRefused, match="was paid out; it can no longer be reversed"):
        connector.compensate(refund("40"))

    assert sandbox.world_snapshot() == before
    assert before["refunds"]["a-refund"]["paid_out"] is True


def test_snapshot_shows_the_line_and_this_refund(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    connector.execute(refund("15"))

    assert connector.snapshot(refund("15")) == {
        "action": "refund",
        "action_id": "a-refund",
        "order": {"id": "O-1001", "customer": "C-100", "dispatched": False},
        "line": {"sku": "TEE-RED-M", "price": "40", "refunded": "15", "left": "25"},
        "refund": {"amount": "15", "paid_out": False, "reversed": False},
    }
