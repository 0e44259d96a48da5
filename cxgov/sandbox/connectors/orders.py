"""Facts about orders that several connectors check: existence, ownership, and the order preconditions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from cxgov.sandbox.connectors.base import moment_text, span_text
from cxgov.sandbox.tables import Customer, Order

ORDER_PRECONDITIONS = {
    "not_dispatched": "the order has not left the warehouse",
    "placed_within_24h": "the order was placed in the last 24 hours",
}
"""The declared preconditions any connector acting on an order can check, with what each means."""

RECENT = timedelta(hours=24)


def owned_order(*, session: Session, order_id: str, customer: str) -> tuple[Order | None, list[str]]:
    """The order when it exists and is `customer`'s; otherwise None and the reason.

    Nothing more about another customer's order is looked at, so no reason reveals its state.
    """
    order = session.get(Order, order_id)
    if order is None:
        return None, [f"order {order_id} does not exist"]
    if order.customer != customer:
        return None, [f"order {order_id} belongs to customer {order.customer}, not {customer}"]
    return order, []


def order_precondition_reasons(*, order: Order, preconditions: Sequence[str], now: datetime) -> list[str]:
    """A reason for each declared order precondition that is false for `order` at `now`."""
    reasons: list[str] = []
    for name in preconditions:
        if name == "not_dispatched" and order.dispatched:
            when = "" if order.dispatched_at is None else f" at {moment_text(order.dispatched_at)}"
            reasons.append(f"precondition not_dispatched is false: order {order.id} was dispatched{when}")
        if name == "placed_within_24h" and now - order.placed_at >= RECENT:
            reasons.append(
                f"precondition placed_within_24h is false: order {order.id} was placed at "
                f"{moment_text(order.placed_at)}, {span_text(now - order.placed_at)} before now"
            )
    return reasons


def customer_reasons(*, session: Session, customer: str) -> list[str]:
    """Why `customer` cannot be acted for: they are not in the system of record."""
    if session.get(Customer, customer) is None:
        return [f"customer {customer} does not exist"]
    return []
