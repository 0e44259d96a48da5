"""Table models of the sandbox system of record. They never leave the sandbox package.

The world (customers, orders, clinic slots, recipients) is seeded from a file; the effect ledgers
(refunds, address changes, cancellations, bookings, shares) hold one row per action id, which is what
makes every connector step idempotent. Faults are test and demo machinery, not part of the world.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class MoneyText(TypeDecorator[Decimal]):
    """A Decimal stored as its exact text, so amounts round-trip without float rounding."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return None if value is None else str(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC ISO text; SQLite's own DATETIME would drop the zone."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else as_utc(value).isoformat()

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(datetime.fromisoformat(value))


class SandboxTable(SQLModel, registry=registry()):
    """Base of every sandbox table: its own metadata, so the sandbox file holds only sandbox tables."""


class Customer(SandboxTable, table=True):
    """A customer of the system of record; `segment` is what grants match on."""

    __tablename__ = "customers"

    id: str = Field(primary_key=True)
    name: str
    segment: str


class Order(SandboxTable, table=True):
    """An order: where it ships, whether it left the warehouse, whether it was cancelled."""

    __tablename__ = "orders"

    id: str = Field(primary_key=True)
    customer: str = Field(index=True)
    placed_at: datetime = Field(sa_type=UtcDateTime)
    address: str
    dispatched: bool = False
    dispatched_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    cancelled: bool = False


class OrderLine(SandboxTable, table=True):
    """One SKU of an order at the price paid; refunds are made against a line."""

    __tablename__ = "order_lines"

    order_id: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    price: Decimal = Field(sa_type=MoneyText)


class Refund(SandboxTable, table=True):
    """A refund recorded by one action; final once `paid_out`, undone when `reversed`."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(unique=True)
    order_id: str = Field(index=True)
    sku: str
    amount: Decimal = Field(sa_type=MoneyText)
    paid_out: bool = False
    reversed: bool = False


class AddressChange(SandboxTable, table=True):
    """An address change recorded by one action, with the address it replaced."""

    __tablename__ = "address_changes"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(unique=True)
    order_id: str = Field(index=True)
    old: str
    new: str
    reverted: bool = False


class Cancellation(SandboxTable, table=True):
    """A cancellation recorded by one action; undone when `reinstated`."""

    __tablename__ = "cancellations"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(unique=True)
    order_id: str = Field(index=True)
    reinstated: bool = False


class ClinicSlot(SandboxTable, table=True):
    """A bookable clinic slot and how many of its seats are taken."""

    __tablename__ = "clinic_slots"
    # The database itself refuses an overbooked slot, whatever the code above it does.
    __table_args__ = (CheckConstraint("booked >= 0 AND booked <= capacity", name="slot_within_capacity"),)

    clinic: str = Field(primary_key=True)
    slot: str = Field(primary_key=True)
    capacity: int
    booked: int = 0


class Booking(SandboxTable, table=True):
    """A seat in a clinic slot taken by one action; undone when `cancelled`."""

    __tablename__ = "bookings"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(unique=True)
    customer: str = Field(index=True)
    clinic: str
    slot: str
    cancelled: bool = False


class Recipient(SandboxTable, table=True):
    """A third party customer data may be shared with."""

    __tablename__ = "recipients"

    name: str = Field(primary_key=True)


class Share(SandboxTable, table=True):
    """Customer fields sent to a recipient by one action. Never undone."""

    __tablename__ = "shares"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(unique=True)
    customer: str = Field(index=True)
    recipient: str
    fields: list[str] = Field(sa_type=JSON)


class Fault(SandboxTable, table=True):
    """An armed fault: the next `remaining` runs of `step` of `action` fail or pause."""

    __tablename__ = "faults"

    action: str = Field(primary_key=True)
    step: str = Field(primary_key=True)
    remaining: int
    delay_seconds: float = 0.0


WORLD_TABLES: tuple[type[SandboxTable], ...] = (
    Customer,
    Order,
    OrderLine,
    ClinicSlot,
    Recipient,
    Refund,
    AddressChange,
    Cancellation,
    Booking,
    Share,
)
"""Every table a seed load replaces: the seeded world and the effects recorded against it."""
