"""Values the shop passes around: errors, records, write requests and replies, money, times, body fields."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

Json: TypeAlias = dict[str, Any]
Operation: TypeAlias = Callable[[], tuple[int, Json]]

CENT = Decimal("0.01")
_MAX_MONEY = Decimal("1000000000")
_RELATIVE = re.compile(r"^-(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ShopError(Exception):
    """A refusal the shop answers with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status and the one-sentence message."""
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Reply:
    """A write's answer: its status, its JSON text (byte-identical on replay), and whether it is a replay."""

    status: int
    body: str
    replay: bool = False


@dataclass(frozen=True)
class Write:
    """One write request as the idempotency and the writes log see it."""

    method: str
    path: str
    key: str | None
    raw_body: bytes


@dataclass(frozen=True)
class Customer:
    """A customer record."""

    id: str
    name: str
    tier: str


@dataclass(frozen=True)
class NewOrder:
    """An order to insert: open, with its lines as (sku, price), shipped when `shipped_at` is set."""

    id: str
    customer: str
    placed: datetime
    address: str
    lines: list[tuple[str, Decimal]]
    shipped_at: datetime | None = None


def now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """`moment` as an ISO 8601 UTC timestamp such as `2025-01-31T09:30:00Z`."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """A timestamp written by `iso` (or any ISO 8601 one; naive ones are taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_when(text: str, reference: datetime) -> datetime:
    """A seed time: relative to `reference` (`-30m`, `-2h`, `-3d`, `-45s`) or an ISO 8601 timestamp.

    Raises:
        ValueError: `text` is neither form.
    """
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return reference - timedelta(**{_UNITS[unit]: amount})
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"time {text!r} is neither relative (-30m, -2h, -3d) nor ISO 8601") from None


def money(value: object, field: str, *, positive: bool = True) -> Decimal:
    """A money amount (a decimal string or a number) with at most 2 decimal places, quantized to cents.

    Raises:
        ShopError: 422 when `value` is not such an amount, or not above zero when `positive`.
    """
    kind = "a positive" if positive else "a non-negative"
    problem = ShopError(422, f"field '{field}' must be {kind} decimal amount with at most 2 places, such as \"40.00\"")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise problem
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise problem from None
    if not amount.is_finite() or amount >= _MAX_MONEY or amount < 0 or (positive and amount == 0):
        raise problem
    if amount != amount.quantize(CENT):
        raise problem
    return amount.quantize(CENT)


def cents(amount: Decimal) -> str:
    """`amount` as the shop writes money: a decimal string with 2 places."""
    return str(amount.quantize(CENT))


def parse_body(raw: bytes, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object in a request body (`{}` for an empty body when `optional`).

    Raises:
        ShopError: 422 when the body is not a JSON object.
    """
    if not raw.strip() and optional:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShopError(422, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ShopError(422, "request body must be a JSON object")
    return body


def text_field(body: dict[str, Any], field: str) -> str:
    """A required non-empty string field of `body`, stripped.

    Raises:
        ShopError: 422 when it is missing or not a non-empty string.
    """
    value = optional_text(body, field)
    if value is None:
        raise ShopError(422, f"field '{field}' is required")
    return value


def optional_text(body: dict[str, Any], field: str) -> str | None:
    """An optional non-empty string field of `body`, stripped (`None` when absent or null).

    Raises:
        ShopError: 422 when it is present but not a non-empty string.
    """
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ShopError(422, f"field '{field}' must be a non-empty string")
    return value.strip()


def number_field(body: dict[str, Any], field: str) -> float:
    """A required finite number field of `body`.

    Raises:
        ShopError: 422 when it is missing or not a finite number.
    """
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ShopError(422, f"field '{field}' must be a number")
    return float(value)
