"""The sandbox world as a whole: replacing it from a seed, and describing it as plain data.

The description is the world as it stands, not its history: effects that were undone (reversed refunds,
reverted address changes, reinstated cancellations, cancelled bookings) are left out, so undoing an
action gives back exactly the description from before it ran.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, delete, select

from cxgov.sandbox.seed import SandboxSeed
from cxgov.sandbox.tables import (
    WORLD_TABLES,
    AddressChange,
    Booking,
    Cancellation,
    ClinicSlot,
    Customer,
    Order,
    OrderLine,
    Recipient,
    Refund,
    Share,
)


def replace_world(*, session: Session, seed: SandboxSeed, now: datetime) -> None:
    """Delete the whole world, effects included, and write the seed's world in its place."""
    for table in WORLD_TABLES:
        session.exec(delete(table))
    for customer_id, customer in seed.customers.items():
        session.add(Customer(id=customer_id, name=customer.name, segment=customer.segment))
    for order_id, order in seed.orders.items():
        dispatched_at = order.dispatched_at or (now if order.dispatched else None)
        session.add(
            Order(
                id=order_id,
                customer=order.customer,
                placed_at=order.placed,
                address=order.address,
                dispatched=order.dispatched,
                dispatched_at=dispatched_at,
            )
        )
        for line in order.lines:
            session.add(OrderLine(order_id=order_id, sku=line.sku, price=line.price))
    for clinic, slots in seed.clinics.items():
        for slot, seats in slots.items():
            session.add(ClinicSlot(clinic=clinic, slot=slot, capacity=seats.capacity, booked=seats.booked))
    for recipient in seed.recipients:
        session.add(Recipient(name=recipient))


def world_is_empty(*, session: Session) -> bool:
    """True when no world has been loaded (or an empty one was)."""
    return all(session.exec(select(table).limit(1)).first() is None for table in WORLD_TABLES)


def describe_world(*, session: Session) -> dict[str, Any]:
    """The world as JSON-able plain data, every collection in a fixed order."""
    refunded: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    refunds: dict[str, Any] = {}
    for refund in session.exec(select(Refund).where(col(Refund.reversed).is_(False)).order_by(col(Refund.action_id))):
        refunded[refund.order_id, refund.sku] += refund.amount
        refunds[refund.action_id] = {
            "order": refund.order_id,
            "sku": refund.sku,
            "amount": str(refund.amount),
            "paid_out": refund.paid_out,
        }
    lines: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for line in session.exec(select(OrderLine).order_by(col(OrderLine.order_id), col(OrderLine.sku))):
        lines[line.order_id][line.sku] = {
            "price": str(line.price),
            "refunded": str(refunded[line.order_id, line.sku]),
        }
    return {
        "customers": {
            customer.id: {"name": customer.name, "segment": customer.segment}
            for customer in session.exec(select(Customer).order_by(col(Customer.id)))
        },
        "orders": {
            order.id: {**describe_order(order), "lines": lines[order.id]}
            for order in session.exec(select(Order).order_by(col(Order.id)))
        },
        "clinics": _describe_clinics(session),
        "recipients": [r.name for r in session.exec(select(Recipient).order_by(col(Recipient.name)))],
        "refunds": refunds,
        "address_changes": {
            change.action_id: {"order": change.order_id, "old": change.old, "new": change.new}
            for change in session.exec(
                select(AddressChange)
                .where(col(AddressChange.reverted).is_(False))
                .order_by(col(AddressChange.action_id))
            )
        },
        "cancellations": {
            cancellation.action_id: {"order": cancellation.order_id}
            for cancellation in session.exec(
                select(Cancellation)
                .where(col(Cancellation.reinstated).is_(False))
                .order_by(col(Cancellation.action_id))
            )
        },
        "bookings": {
            booking.action_id: describe_booking(booking)
            for booking in session.exec(
                select(Booking).where(col(Booking.cancelled).is_(False)).order_by(col(Booking.action_id))
            )
        },
        "shares": {
            share.action_id: {"customer": share.customer, "recipient": share.recipient, "fields": share.fields}
            for share in session.exec(select(Share).order_by(col(Share.action_id)))
        },
    }


def describe_order(order: Order) -> dict[str, Any]:
    """An order's own state as plain data (without its lines)."""
    return {
        "customer": order.customer,
        "placed_at": order.placed_at.isoformat(),
        "address": order.address,
        "dispatched": order.dispatched,
        "dispatched_at": None if order.dispatched_at is None else order.dispatched_at.isoformat(),
        "cancelled": order.cancelled,
    }


def describe_booking(booking: Booking) -> dict[str, Any]:
    """A booking as plain data."""
    return {"customer": booking.customer, "clinic": booking.clinic, "slot": booking.slot}


def _describe_clinics(session: Session) -> dict[str, dict[str, Any]]:
    clinics: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for seats in session.exec(select(ClinicSlot).order_by(col(ClinicSlot.clinic), col(ClinicSlot.slot))):
        clinics[seats.clinic][seats.slot] = {"capacity": seats.capacity, "booked": seats.booked}
    return dict(clinics)
