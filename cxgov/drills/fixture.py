"""Drill fixtures: a fresh, tiny world per drill, and the call each reference action is drilled with."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cxgov.wire import ConnectorCall, ParamValue

DRILL_CUSTOMER = "DRILL-C"
DRILL_ORDER = "DRILL-O"
DRILL_SKU = "DRILL-SKU"
DRILL_CLINIC = "drill"
DRILL_SLOT = "2030-01-01T09:00"

FIXTURE_SEED = f"""# A reversal drill's own world: never the live system of record.
customers:
  {DRILL_CUSTOMER}: {{name: Drill Customer, segment: standard}}
orders:
  {DRILL_ORDER}:
    customer: {DRILL_CUSTOMER}
    placed: -1h
    address: 1 Drill Lane
    dispatched: false
    lines:
      - {{sku: {DRILL_SKU}, price: 100}}
clinics:
  {DRILL_CLINIC}:
    "{DRILL_SLOT}": {{capacity: 1, booked: 0}}
recipients: [drill-recipient]
"""

DRILL_PARAMS: dict[str, dict[str, ParamValue]] = {
    "refund": {"order_id": DRILL_ORDER, "sku": DRILL_SKU, "amount": Decimal("10")},
    "change_address": {"order_id": DRILL_ORDER, "address": "2 Drill Lane"},
    "cancel_order": {"order_id": DRILL_ORDER},
    "book_appointment": {"clinic": DRILL_CLINIC, "slot": DRILL_SLOT},
}
"""How each reversible reference action is drilled against the fixture."""


def write_fixture(workspace: Path) -> Path:
    """Write the fixture's seed file next to the drill's sandbox file; returns its path."""
    workspace.parent.mkdir(parents=True, exist_ok=True)
    seed = workspace.with_suffix(".seed.yaml")
    seed.write_text(FIXTURE_SEED)
    return seed


def drill_call(*, action: str, drill_id: str) -> ConnectorCall | None:
    """The call that drills `action`, or None when there is no fixture for it."""
    params = DRILL_PARAMS.get(action)
    if params is None:
        return None
    return ConnectorCall(action_id=drill_id, action=action, customer=DRILL_CUSTOMER, params=dict(params))
