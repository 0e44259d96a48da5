"""The sandbox's drill fixture: a fresh, tiny world per drill (each connector names the params it drills with)."""

from __future__ import annotations

from pathlib import Path

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


def write_fixture(directory: Path) -> Path:
    """Write the fixture's seed file into `directory`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    seed = directory / "drill-seed.yaml"
    seed.write_text(FIXTURE_SEED)
    return seed
