"""The seed document: customers and orders loaded into an empty database, with times relative to load time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from examples.shop.values import Customer, NewOrder, ShopError, money, parse_when


def parse_seed(document: Any, reference: datetime) -> tuple[list[Customer], list[NewOrder]]:
    """The customers and orders of a seed document, relative times (`-2h`) taken back from `reference`.

    The document is `{"customers": {id: {"name", "tier"}}, "orders": {id: {"customer", "placed", "address"?,
    "shipped"?, "shipped_at"?, "lines": [{"sku", "price"}]}}}`. A shipped order without `shipped_at` shipped a day
    after it was placed (or at `reference`, if sooner).

    Raises:
        ValueError: the document does not have that shape.
    """
    try:
        customers = [
            Customer(str(cid), str(fields["name"]), str(fields["tier"]))
            for cid, fields in document["customers"].items()
        ]
        orders = [_order(str(oid), fields, reference) for oid, fields in document["orders"].items()]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"seed is not valid: {type(exc).__name__}: {exc}") from None
    except ShopError as exc:
        raise ValueError(f"seed is not valid: {exc.message}") from None
    return customers, orders


def _order(order_id: str, fields: dict[str, Any], reference: datetime) -> NewOrder:
    placed = parse_when(str(fields["placed"]), reference)
    shipped_at = None
    if fields.get("shipped", False):
        when = fields.get("shipped_at")
        shipped_at = parse_when(str(when), reference) if when else min(placed + timedelta(days=1), reference)
    lines = [(str(line["sku"]), money(line["price"], "price", positive=False)) for line in fields["lines"]]
    return NewOrder(order_id, str(fields["customer"]), placed, str(fields.get("address", "")), lines, shipped_at)
