"""The sandbox seed file: its models, and a loader whose every error names file, line and key.

The reference file is `examples/sandbox.yaml`. Keys and meanings there do not change; new optional keys
may be added (`dispatched_at`). Unknown keys are rejected wherever they appear, so a typo never passes
silently. Times such as "-2h" are relative to the moment of loading.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from cxgov.errors import SeedError
from cxgov.sandbox.tables import as_utc
from cxgov.yamlsource import YamlSource, load_yaml

RELATIVE_TIME = re.compile(r"^-(\d+)([smhd])$")
TIME_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def _moment(value: Any, info: ValidationInfo) -> datetime:
    """A relative time ("-2h", "now") against the load moment, or an absolute ISO date-time."""
    context = info.context or {}
    now = context.get("now")
    if not isinstance(now, datetime):
        raise RuntimeError("seed validation needs the load moment as context['now']")
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return as_utc(datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return now
        relative = RELATIVE_TIME.match(text)
        if relative is not None:
            return now - int(relative[1]) * TIME_UNITS[relative[2]]
        try:
            return as_utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise ValueError(f"not a time: {value!r}; write a relative time like -30s, -15m, -2h or -3d, or an ISO date-time")


def _price(value: Any) -> Decimal:
    """A non-negative amount; floats go through their text so 12.1 stays 12.1."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    if amount < 0:
        raise ValueError(f"a price cannot be negative, got {amount}")
    return amount


Moment = Annotated[datetime, BeforeValidator(_moment)]
Price = Annotated[Decimal, BeforeValidator(_price)]
Name = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0, strict=True)]


class SeedModel(BaseModel):
    """Base of the seed models: unknown keys are errors, and loaded seeds do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedCustomer(SeedModel):
    name: Name
    segment: Name
    """The customer's segment; grants match it, never a segment taken from a request."""


class SeedLine(SeedModel):
    sku: Name
    price: Price


class SeedOrder(SeedModel):
    customer: Name
    """Id of a customer under `customers`."""
    placed: Moment
    address: Name
    dispatched: bool = Field(default=False, strict=True)
    dispatched_at: Moment | None = None
    """When the order left the warehouse; defaults to the load moment for a dispatched order."""
    lines: list[SeedLine] = Field(default_factory=list)


class SeedSlot(SeedModel):
    capacity: Count
    booked: Count = 0
    """Bookings already taken before the sandbox opens."""


class SandboxSeed(SeedModel):
    """A whole seed file: the world the sandbox system of record starts from."""

    customers: dict[str, SeedCustomer] = Field(default_factory=dict)
    orders: dict[str, SeedOrder] = Field(default_factory=dict)
    clinics: dict[str, dict[str, SeedSlot]] = Field(default_factory=dict)
    """clinic -> slot -> capacity and bookings already taken."""
    recipients: list[Name] = Field(default_factory=list)
    """Third parties customer data may be shared with."""


class WorldSummary(BaseModel):
    """What a seed load put in the sandbox."""

    seed: str
    loaded_at: datetime
    customers: int
    orders: int
    order_lines: int
    clinic_slots: int
    recipients: int

    def summary(self) -> str:
        """One line for a person: what was loaded from where."""
        return (
            f"sandbox loaded from {self.seed}: {_count(self.customers, 'customer')}, "
            f"{_count(self.orders, 'order')} ({_count(self.order_lines, 'line')}), "
            f"{_count(self.clinic_slots, 'clinic slot')}, {_count(self.recipients, 'recipient')}"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def load_seed(path: Path, *, now: datetime) -> SandboxSeed:
    """Read, validate and cross-check a seed file; any problem is one `SeedError` naming file:line: key."""
    source = load_yaml(path, SeedError)
    seed = source.validate(SandboxSeed, SeedError, context={"now": as_utc(now)})
    _check_references(seed, source, now=as_utc(now))
    return seed


def summarize(seed: SandboxSeed, *, path: Path, now: datetime) -> WorldSummary:
    """Count what `seed` holds."""
    return WorldSummary(
        seed=str(path),
        loaded_at=as_utc(now),
        customers=len(seed.customers),
        orders=len(seed.orders),
        order_lines=sum(len(order.lines) for order in seed.orders.values()),
        clinic_slots=sum(len(slots) for slots in seed.clinics.values()),
        recipients=len(seed.recipients),
    )


def _check_references(seed: SandboxSeed, source: YamlSource, *, now: datetime) -> None:
    """Facts one key cannot know alone: references between sections, and sums within one entry."""
    for order_id, order in seed.orders.items():
        at = ("orders", order_id)
        if order.customer not in seed.customers:
            raise source.error(SeedError, (*at, "customer"), f"unknown customer {order.customer!r}")
        if order.placed > now:
            raise source.error(SeedError, (*at, "placed"), "an order cannot be placed in the future")
        if order.dispatched_at is not None:
            if not order.dispatched:
                raise source.error(SeedError, (*at, "dispatched_at"), "is set but dispatched is false")
            if order.dispatched_at < order.placed:
                raise source.error(SeedError, (*at, "dispatched_at"), "is before the order was placed")
        seen: set[str] = set()
        for index, line in enumerate(order.lines):
            if line.sku in seen:
                raise source.error(
                    SeedError, (*at, "lines", index, "sku"), f"SKU {line.sku!r} appears twice in {order_id}"
                )
            seen.add(line.sku)
    for clinic, slots in seed.clinics.items():
        for slot, seats in slots.items():
            if seats.booked > seats.capacity:
                raise source.error(
                    SeedError,
                    ("clinics", clinic, slot, "booked"),
                    f"booked {seats.booked} exceeds capacity {seats.capacity}",
                )
    named: set[str] = set()
    for index, recipient in enumerate(seed.recipients):
        if recipient in named:
            raise source.error(SeedError, ("recipients", index), f"recipient {recipient!r} appears twice")
        named.add(recipient)
