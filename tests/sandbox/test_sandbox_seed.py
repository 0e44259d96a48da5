"""Loading seed files: the reference world loads unchanged; a bad file names file:line: key and changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cxgov.errors import SeedError
from cxgov.sandbox import Sandbox
from cxgov.sandbox.seed import load_seed
from cxgov.wire import ConnectorCall


def _line_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing `fragment`."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def _variant(tmp_path: Path, reference_seed: Path, old: str, new: str) -> tuple[Path, str]:
    """A copy of the reference seed with one edit; returns its path and its text."""
    text = reference_seed.read_text()
    assert old in text
    changed = text.replace(old, new, 1)
    path = tmp_path / "sandbox.yaml"
    path.write_text(changed)
    return path, changed


def test_reference_seed_loads_unchanged_with_its_counts(
    tmp_path: Path, reference_seed: Path, load_moment: datetime
) -> None:
    sandbox = Sandbox(tmp_path / "state" / "sandbox.db")
    assert sandbox.is_empty()

    summary = sandbox.load_world(seed=reference_seed, now=load_moment)

    assert (summary.customers, summary.orders, summary.order_lines) == (3, 3, 6)
    assert (summary.clinic_slots, summary.recipients) == (2, 1)
    assert summary.loaded_at == load_moment
    assert "3 customers, 3 orders (6 lines), 2 clinic slots, 1 recipient" in summary.summary()
    assert not sandbox.is_empty()
    world = sandbox.world_snapshot()
    assert world["customers"]["C-200"] == {"name": "Bo Chen", "segment": "gold"}
    assert world["orders"]["O-1001"]["placed_at"] == (load_moment - timedelta(hours=2)).isoformat()
    assert world["orders"]["O-1002"]["placed_at"] == (load_moment - timedelta(days=3)).isoformat()
    assert world["orders"]["O-1002"]["dispatched"] is True
    assert world["orders"]["O-1002"]["dispatched_at"] == load_moment.isoformat()
    assert world["orders"]["O-1001"]["lines"]["JACKET-BLK-L"] == {"price": "180", "refunded": "0"}
    assert world["clinics"]["north"]["2026-12-01T10:00"] == {"capacity": 1, "booked": 1}
    assert world["recipients"] == ["insights-partner-inc"]
    assert sandbox.segment("C-300") == "vip"
    assert sandbox.segment("C-999") is None
    sandbox.close()


def test_relative_times_count_back_from_the_load_moment(
    tmp_path: Path, reference_seed: Path, load_moment: datetime
) -> None:
    for written, span in [
        ("-30m", timedelta(minutes=30)),
        ("-15s", timedelta(seconds=15)),
        ("-3d", timedelta(days=3)),
    ]:
        path, _ = _variant(tmp_path, reference_seed, "placed: -2h", f"placed: {written}")
        seed = load_seed(path, now=load_moment)
        assert seed.orders["O-1001"].placed == load_moment - span


def test_amounts_round_trip_exactly(tmp_path: Path, reference_seed: Path, load_moment: datetime) -> None:
    text = reference_seed.read_text().replace("price: 40}", 'price: "40.10"}').replace("price: 180}", "price: 19.99}")
    path = tmp_path / "sandbox.yaml"
    path.write_text(text)
    sandbox = Sandbox(tmp_path / "sandbox.db")
    sandbox.load_world(seed=path, now=load_moment)

    lines = sandbox.world_snapshot()["orders"]["O-1001"]["lines"]
    assert (lines["TEE-RED-M"]["price"], lines["JACKET-BLK-L"]["price"]) == ("40.10", "19.99")
    refund = sandbox.connector("refund")
    call = ConnectorCall(
        action_id="a-exact",
        action="refund",
        customer="C-100",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": Decimal("40.10")},
    )
    assert refund.execute(call).applied
    assert sandbox.world_snapshot()["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] == "40.10"
    sandbox.close()


BAD_SEEDS = {
    "unknown customer": (
        "customer: C-100",
        "customer: C-999",
        "orders.O-1001.customer: unknown customer 'C-999'",
    ),
    "bad relative time": ("placed: -2h", "placed: -2x", "orders.O-1001.placed: not a time: '-2x'"),
    "capacity below booked": (
        "{capacity: 1, booked: 1}",
        "{capacity: 1, booked: 2}",
        "clinics.north.2026-12-01T10:00.booked: booked 2 exceeds capacity 1",
    ),
    "unknown order key": (
        "    dispatched: false\n",
        "    dispatched: false\n    colour: red\n",
        "orders.O-1001.colour: Extra inputs are not permitted",
    ),
    "unknown top-level key": (
        "recipients: [insights-partner-inc]",
        "recipients: [insights-partner-inc]\nwarehouses: {}",
        "warehouses: Extra inputs are not permitted",
    ),
    "negative price": (
        "price: 40}",
        "price: -40}",
        "orders.O-1001.lines[0].price: a price cannot be negative, got -40",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SEEDS))
def test_a_bad_seed_names_file_line_and_key(
    case: str, tmp_path: Path, reference_seed: Path, load_moment: datetime
) -> None:
    old, new, expected = BAD_SEEDS[case]
    path, text = _variant(tmp_path, reference_seed, old, new)
    line = _line_of(text, new.strip().splitlines()[-1])

    with pytest.raises(SeedError) as raised:
        load_seed(path, now=load_moment)

    assert str(raised.value).startswith(f"{path}:{line}: {expected}")
    assert raised.value.line == line


def test_a_yaml_syntax_error_names_file_and_line(tmp_path: Path, reference_seed: Path, load_moment: datetime) -> None:
    path, text = _variant(tmp_path, reference_seed, "address: 9 Elm Rd, Shelbyville", "address: [9 Elm Rd")

    with pytest.raises(SeedError) as raised:
        load_seed(path, now=load_moment)

    assert str(raised.value).startswith(f"{path}:")
    assert "YAML syntax error" in str(raised.value)
    assert raised.value.line is not None and raised.value.line >= _line_of(text, "address: [9 Elm Rd")


@pytest.mark.parametrize("case", [*sorted(BAD_SEEDS), "syntax error", "missing file"])
def test_a_bad_seed_leaves_the_sandbox_unchanged(
    case: str, tmp_path: Path, sandbox: Sandbox, reference_seed: Path, load_moment: datetime
) -> None:
    # An effect on top of the seed, so "unchanged" means more than "still the seed".
    refund = ConnectorCall(
        action_id="a-before",
        action="refund",
        customer="C-100",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": Decimal("15")},
    )
    sandbox.connector("refund").execute(refund)
    before = sandbox.world_snapshot()
    if case == "syntax error":
        path, _ = _variant(tmp_path, reference_seed, "customers:", "customers: [")
    elif case == "missing file":
        path = tmp_path / "nowhere.yaml"
    else:
        old, new, _ = BAD_SEEDS[case]
        path, _ = _variant(tmp_path, reference_seed, old, new)

    with pytest.raises(SeedError):
        sandbox.load_world(seed=path, now=load_moment)

    assert sandbox.world_snapshot() == before


def test_a_bad_seed_leaves_an_empty_sandbox_empty(tmp_path: Path, reference_seed: Path, load_moment: datetime) -> None:
    path, _ = _variant(tmp_path, reference_seed, "customer: C-300", "customer: C-404")
    sandbox = Sandbox(tmp_path / "sandbox.db")

    with pytest.raises(SeedError, match="unknown customer 'C-404'"):
        sandbox.load_world(seed=path, now=load_moment)

    assert sandbox.is_empty()
    sandbox.close()


def test_loading_a_world_replaces_the_recorded_effects(
    sandbox: Sandbox, reference_seed: Path, load_moment: datetime
) -> None:
    fresh = sandbox.world_snapshot()
    call = ConnectorCall(action_id="a-1", action="cancel_order", customer="C-100", params={"order_id": "O-1001"})
    sandbox.connector("cancel_order").execute(call)
    assert sandbox.world_snapshot() != fresh

    sandbox.load_world(seed=reference_seed, now=load_moment)

    assert sandbox.world_snapshot() == fresh
