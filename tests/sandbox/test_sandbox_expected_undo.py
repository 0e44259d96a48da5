"""`expected_after_undo`: the snapshot an undo must leave, worked out from the effect's record.

With nothing else happening it is the pre-action snapshot; with later changes by others to the same
entities it keeps them; a real undo leaves exactly it.
"""

from __future__ import annotations

from typing import Any

import pytest

from cxgov.errors import ConnectorRefused
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall

REVERSIBLE: dict[str, dict[str, Any]] = {
    "refund": {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "20"},
    "change_address": {"order_id": "O-1001", "address": "2 Side Rd, Springfield"},
    "cancel_order": {"order_id": "O-1001"},
    "book_appointment": {"clinic": "north", "slot": "2026-12-01T09:00"},
}


def call(action: str, action_id: str, params: dict[str, Any] | None = None) -> ConnectorCall:
    return ConnectorCall(action_id=action_id, action=action, customer="C-100", params=params or REVERSIBLE[action])


@pytest.mark.parametrize("action", sorted(REVERSIBLE))
def test_with_nothing_else_happening_it_is_the_pre_action_snapshot(sandbox: Sandbox, action: str) -> None:
    connector = sandbox.connector(action)
    mine = call(action, "a-1")
    before = connector.snapshot(mine)
    assert connector.expected_after_undo(mine) == before  # nothing applied yet: nothing to take away

    assert connector.execute(mine).applied
    expected = connector.expected_after_undo(mine)
    assert expected == before
    assert connector.snapshot(mine) != before

    assert connector.compensate(mine).undone
    assert connector.snapshot(mine) == expected
    assert connector.expected_after_undo(mine) == expected  # once undone, there is nothing left to remove


def test_a_later_refund_on_the_same_line_is_kept(sandbox: Sandbox) -> None:
    refunds = sandbox.connector("refund")
    mine, theirs = call("refund", "a-1"), call("refund", "a-2")
    before = refunds.snapshot(mine)
    refunds.execute(mine)
    refunds.execute(theirs)

    expected = refunds.expected_after_undo(mine)

    assert expected["refund"] is None
    assert expected["line"]["refunded"] == "20" and expected["line"]["left"] == "20"
    assert expected != before
    refunds.compensate(mine)
    assert refunds.snapshot(mine) == expected


def test_a_later_address_change_on_the_same_order_is_not_what_the_undo_restores(sandbox: Sandbox) -> None:
    addresses = sandbox.connector("change_address")
    mine = call("change_address", "a-1")
    theirs = call("change_address", "a-2", {"order_id": "O-1001", "address": "3 Elm St, Springfield"})
    addresses.execute(mine)
    addresses.execute(theirs)

    expected = addresses.expected_after_undo(mine)

    # The expectation is the old address; the connector refuses to clobber the later change instead,
    # so a reversal fails at compensate and never reaches a verify this expectation would pass.
    assert expected["order"]["address"] == "1 Main St, Springfield"
    with pytest.raises(ConnectorRefused, match="it changed again since a-1"):
        addresses.compensate(mine)
    assert sandbox.world_snapshot()["orders"]["O-1001"]["address"] == "3 Elm St, Springfield"
