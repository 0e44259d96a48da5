"""The book-appointment and share-customer-data connectors against the reference world."""

from __future__ import annotations

from datetime import datetime

import pytest

from cxgov.errors import ConnectorRefused
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall

OPEN_SLOT = "2026-12-01T09:00"
FULL_SLOT = "2026-12-01T10:00"


def book(
    slot: str = OPEN_SLOT, *, clinic: str = "north", customer: str = "C-100", action_id: str = "a-book"
) -> ConnectorCall:
    return ConnectorCall(
        action_id=action_id, action="book_appointment", customer=customer, params={"clinic": clinic, "slot": slot}
    )


def share(
    fields: list[str] | None = None,
    *,
    recipient: str = "insights-partner-inc",
    customer: str = "C-100",
    action_id: str = "a-share",
) -> ConnectorCall:
    return ConnectorCall(
        action_id=action_id,
        action="share_customer_data",
        customer=customer,
        params={"recipient": recipient, "fields": ["name", "segment"] if fields is None else fields},
    )


def test_book_appointment_check(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("book_appointment")
    declared = ["capacity"]

    assert set(connector.preconditions) == {"capacity"}
    assert connector.check(book(), preconditions=declared, now=load_moment) == []
    assert connector.check(book(FULL_SLOT), preconditions=declared, now=load_moment) == [
        f"precondition capacity is false: clinic north slot {FULL_SLOT} is full (1 of 1 booked)"
    ]
    assert connector.check(book(FULL_SLOT), preconditions=[], now=load_moment) == []
    assert connector.check(book(clinic="south"), preconditions=declared, now=load_moment) == [
        "unknown clinic 'south' (clinics: north)"
    ]
    assert connector.check(book("2026-12-02T09:00"), preconditions=declared, now=load_moment) == [
        f"clinic north has no slot '2026-12-02T09:00' (its slots: {OPEN_SLOT}, {FULL_SLOT})"
    ]
    assert connector.check(book(customer="C-999"), preconditions=declared, now=load_moment) == [
        "customer C-999 does not exist"
    ]
    with pytest.raises(ValueError, match="cannot check precondition not_dispatched"):
        connector.check(book(), preconditions=["not_dispatched"], now=load_moment)


def test_book_appointment_execute_verify_compensate(sandbox: Sandbox) -> None:
    connector = sandbox.connector("book_appointment")
    before = sandbox.world_snapshot()

    assert connector.execute(book()).applied
    assert not connector.execute(book()).applied
    world = sandbox.world_snapshot()
    assert world["clinics"]["north"][OPEN_SLOT] == {"capacity": 2, "booked": 2}
    assert world["bookings"] == {"a-book": {"customer": "C-100", "clinic": "north", "slot": OPEN_SLOT}}
    assert connector.verify(book()).ok
    assert connector.snapshot(book())["slot"] == {"clinic": "north", "slot": OPEN_SLOT, "capacity": 2, "booked": 2}

    assert connector.compensate(book()).undone
    again = connector.compensate(book())
    assert again.undone and "already undone" in again.summary  # a retry answers as the first call did
    assert sandbox.world_snapshot() == before
    assert not connector.verify(book()).ok


def test_booking_a_full_slot_is_refused_without_effect(sandbox: Sandbox) -> None:
    before = sandbox.world_snapshot()

    with pytest.raises(ConnectorRefused, match=f"clinic north slot {FULL_SLOT} is full"):
        sandbox.connector("book_appointment").execute(book(FULL_SLOT))

    assert sandbox.world_snapshot() == before


def test_share_check(sandbox: Sandbox, load_moment: datetime) -> None:
    connector = sandbox.connector("share_customer_data")

    assert dict(connector.preconditions) == {}
    assert connector.check(share(), preconditions=[], now=load_moment) == []
    assert connector.check(share(recipient="data-broker"), preconditions=[], now=load_moment) == [
        "unknown recipient 'data-broker' (known: insights-partner-inc)"
    ]
    assert connector.check(share(["name", "ssn"]), preconditions=[], now=load_moment) == [
        "unknown customer field 'ssn' (known: address, name, orders, segment)"
    ]
    assert connector.check(share([]), preconditions=[], now=load_moment) == ["no customer fields named"]


def test_share_execute_verify_and_it_cannot_be_undone(sandbox: Sandbox) -> None:
    connector = sandbox.connector("share_customer_data")
    assert not connector.compensate(share()).undone

    assert connector.execute(share()).applied
    assert not connector.execute(share()).applied
    assert connector.verify(share()).ok
    after = sandbox.world_snapshot()
    assert after["shares"] == {
        "a-share": {"customer": "C-100", "recipient": "insights-partner-inc", "fields": ["name", "segment"]}
    }

    with pytest.raises(ConnectorRefused, match=r"^irreversible: "):
        connector.compensate(share())
    assert sandbox.world_snapshot() == after


def test_sharing_with_an_unknown_recipient_is_refused(sandbox: Sandbox) -> None:
    before = sandbox.world_snapshot()
    with pytest.raises(ConnectorRefused, match="unknown recipient 'data-broker'"):
        sandbox.connector("share_customer_data").execute(share(recipient="data-broker"))
    assert sandbox.world_snapshot() == before
