"""The shop's records in one SQLite file, and the rules every change to them follows.

One connection is shared by the server's threads behind a re-entrant lock, and every write runs inside
`BEGIN IMMEDIATE`, so a check and the change it guards can never interleave with another write.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from examples.shop.values import (
    Customer,
    Json,
    NewOrder,
    Operation,
    Reply,
    ShopError,
    Write,
    cents,
    iso,
    money,
    now,
    number_field,
    optional_text,
    parse_iso,
    text_field,
)

CANCEL_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer TEXT NOT NULL REFERENCES customers(id), placed_at TEXT NOT NULL,
    address TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'cancelled')),
    shipped INTEGER NOT NULL DEFAULT 0, shipped_at TEXT
);
CREATE TABLE IF NOT EXISTS lines (
    order_id TEXT NOT NULL REFERENCES orders(id), sku TEXT NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE IF NOT EXISTS refunds (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, order_id TEXT NOT NULL REFERENCES orders(id),
    sku TEXT NOT NULL, amount TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid_out', 'reversed')), key TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cancellations (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, order_id TEXT NOT NULL REFERENCES orders(id),
    key TEXT, undone INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, body_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL, response_json TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS writes_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    key TEXT, status INTEGER NOT NULL
);
"""


class Store:
    """The shop's customers, orders, refunds and cancellations in the SQLite file at `path`."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database file and its tables."""
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # -- seeding -------------------------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """Whether the database holds no customers and no orders yet."""
        with self._lock:
            row = self._db.execute("SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM orders)")
            return int(row.fetchone()[0]) == 0

    def load(self, customers: list[Customer], orders: list[NewOrder]) -> None:
        """Insert seed customers and orders in one transaction.

        Raises:
            ValueError: the records clash with each other or with what is stored (a duplicate id, an unknown customer).
        """
        with self._lock, self._transaction():
            try:
                self._db.executemany(
                    "INSERT INTO customers VALUES (?, ?, ?)", [(c.id, c.name, c.tier) for c in customers]
                )
                for order in orders:
                    self._insert_order(order)
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"seed is not valid: {exc}") from None

    # -- writes: idempotency, atomicity, the writes log -----------------------------------------------------

    def write(self, request: Write, operation: Operation, *, idempotent: bool) -> Reply:
        """Run one write atomically and append it to the writes log with the status it got.

        An `idempotent` write needs an Idempotency-Key: a key seen before with the same method, path and body
        replays the stored answer and changes nothing; with anything else it is refused. Only 2xx answers are
        stored, so a refused request re-evaluates when retried.
        """
        with self._lock, self._transaction():
            reply = self._write(request, operation, idempotent=idempotent)
            self._log(request, reply.status)
            return reply

    def log_refusal(self, request: Write, status: int) -> None:
        """Append a write refused before it could be read (a body too large) to the writes log."""
        with self._lock:
            self._log(request, status)

    def writes(self) -> list[Json]:
        """Every write the shop received, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, method, path, key, status FROM writes_log ORDER BY seq").fetchall()
        return [dict(row) for row in rows]

    def _write(self, request: Write, operation: Operation, *, idempotent: bool) -> Reply:
        digest = hashlib.sha256(request.raw_body).hexdigest()
        if idempotent:
            if not request.key:
                return _error_reply(400, "Idempotency-Key header is required on every write")
            if len(request.key) > MAX_KEY_LENGTH:
                return _error_reply(400, f"Idempotency-Key header must be at most {MAX_KEY_LENGTH} characters")
            seen = self._db.execute("SELECT * FROM idempotency WHERE key = ?", (request.key,)).fetchone()
            if seen is not None:
                if (seen["method"], seen["path"], seen["body_sha256"]) == (request.method, request.path, digest):
                    return Reply(seen["status"], seen["response_json"], replay=True)
                return _error_reply(422, f"Idempotency-Key {request.key} was already used for a different request")
        self._db.execute("SAVEPOINT operation")
        try:
            status, body = operation()
        except Exception as exc:
            self._db.execute("ROLLBACK TO operation")
            self._db.execute("RELEASE operation")
            if isinstance(exc, ShopError):
                return _error_reply(exc.status, exc.message)
            return _error_reply(500, f"internal error: {type(exc).__name__}: {exc}")
        self._db.execute("RELEASE operation")
        reply = Reply(status, json.dumps(body))
        if idempotent and 200 <= status < 300:
            self._db.execute(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
                (request.key, request.method, request.path, digest, status, reply.body, iso(now())),
            )
        return reply

    def _log(self, request: Write, status: int) -> None:
        self._db.execute(
            "INSERT INTO writes_log (at, method, path, key, status) VALUES (?, ?, ?, ?, ?)",
            (iso(now()), request.method, request.path, request.key, status),
        )

    # -- reads ---------------------------------------------------------------------------------------------

    def customer(self, customer_id: str) -> Json:
        """A customer: `{"id", "name", "tier"}`."""
        with self._lock:
            row = self._db.execute("SELECT id, name, tier FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if row is None:
            raise ShopError(404, f"customer {customer_id} not found")
        return dict(row)

    def order(
        self, order_id: str, *, without_refund: str | None = None, without_cancellation: str | None = None
    ) -> Json:
        """An order with its lines, what is refunded and left on each, and whether it can still be cancelled.

        Args:
            order_id: the order.
            without_refund: a refund of this order to count as reversed (the state its reversal must leave).
            without_cancellation: a cancellation of this order to count as undone (the order open again).
        """
        with self._lock:
            row = self._order_row(order_id)
            status = row["status"]
            if without_refund is not None:
                self._own("refunds", without_refund, order_id, "without_refund")
            if without_cancellation is not None:
                cancellation = self._own("cancellations", without_cancellation, order_id, "without_cancellation")
                if not cancellation["undone"]:
                    status = "open"
            lines = []
            for line in self._db.execute("SELECT sku, price FROM lines WHERE order_id = ? ORDER BY rowid", (order_id,)):
                price, refunded = Decimal(line["price"]), self._refunded(order_id, line["sku"], without_refund)
                lines.append(
                    {
                        "sku": line["sku"],
                        "price": cents(price),
                        "refunded": cents(refunded),
                        "left": cents(price - refunded),
                    }
                )
        placed = parse_iso(row["placed_at"])
        return {
            "id": row["id"],
            "customer": row["customer"],
            "placed_at": row["placed_at"],
            "address": row["address"],
            "status": status,
            "shipped": bool(row["shipped"]),
            "cancellable": status == "open" and not row["shipped"] and now() - placed < CANCEL_WINDOW,
            "lines": lines,
        }

    def refund(self, refund_id: str) -> Json:
        """A refund: `{"id", "order_id", "sku", "amount", "status", "key"}`."""
        with self._lock:
            return _refund_view(self._row("refunds", refund_id, "refund"))

    def cancellation(self, cancellation_id: str) -> Json:
        """A cancellation: `{"id", "order_id", "undone"}`."""
        with self._lock:
            row = self._row("cancellations", cancellation_id, "cancellation")
        return {"id": row["id"], "order_id": row["order_id"], "undone": bool(row["undone"])}

    # -- changes (called only inside `write`) ---------------------------------------------------------------

    def create_order(self, body: Json) -> tuple[int, Json]:
        """Place a new order `O-<8 hex>` now for an existing customer."""
        customer = text_field(body, "customer")
        address = optional_text(body, "address") or ""
        raw_lines = body.get("lines")
        if not isinstance(raw_lines, list) or not raw_lines or not all(isinstance(line, dict) for line in raw_lines):
            raise ShopError(422, 'field \'lines\' must be a non-empty list of {"sku", "price"} objects')
        lines = [(text_field(line, "sku"), money(line.get("price"), "price", positive=False)) for line in raw_lines]
        skus = [sku for sku, _ in lines]
        if len(set(skus)) != len(skus):
            raise ShopError(422, "field 'lines' names the same sku twice")
        self.customer(customer)
        order_id = f"O-{secrets.token_hex(4)}"
        self._insert_order(NewOrder(order_id, customer, now(), address, lines))
        return 201, self.order(order_id)

    def create_refund(self, order_id: str, body: Json, key: str | None) -> tuple[int, Json]:
        """Record a pending refund of part of one order line, never more than is left on that line."""
        sku = text_field(body, "sku")
        amount = money(body.get("amount"), "amount")
        customer = optional_text(body, "customer")
        order = self.order(order_id)
        self._check_customer(order, customer)
        line = next((line for line in order["lines"] if line["sku"] == sku), None)
        if line is None:
            skus = ", ".join(line["sku"] for line in order["lines"])
            raise ShopError(422, f"sku {sku} is not a line of order {order_id}; its skus are {skus}")
        if amount > Decimal(line["left"]):
            raise ShopError(
                409,
                f"refund of {cents(amount)} exceeds what is left to refund on order {order_id} line {sku}: "
                f"{line['left']} of {line['price']}",
            )
        refund_id = f"R-{self._next_seq('refunds')}"
        self._db.execute(
            "INSERT INTO refunds (id, order_id, sku, amount, status, key, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (refund_id, order_id, sku, cents(amount), key, iso(now())),
        )
        return 201, self.refund(refund_id)

    def reverse_refund(self, refund_id: str) -> tuple[int, Json]:
        """Reverse a pending refund; a reversed one stays as it is; a paid-out one can no longer be reversed."""
        refund = self.refund(refund_id)
        if refund["status"] == "paid_out":
            raise ShopError(409, f"refund {refund_id} was paid out; it can no longer be reversed")
        self._db.execute("UPDATE refunds SET status = 'reversed' WHERE id = ?", (refund_id,))
        return 200, self.refund(refund_id)

    def cancel(self, order_id: str, body: Json, key: str | None) -> tuple[int, Json]:
        """Cancel an open order that has not shipped and was placed less than 24 hours ago, or refuse why not."""
        customer = optional_text(body, "customer")
        row = self._order_row(order_id)
        self._check_customer(dict(row), customer)
        if row["status"] == "cancelled":
            raise ShopError(409, f"order {order_id} is already cancelled")
        if row["shipped"]:
            raise ShopError(409, f"order {order_id} was shipped at {row['shipped_at']}; it can no longer be cancelled")
        if now() - parse_iso(row["placed_at"]) >= CANCEL_WINDOW:
            raise ShopError(409, f"order {order_id} was placed at {row['placed_at']}, more than 24 hours ago")
        cancellation_id = f"X-{self._next_seq('cancellations')}"
        self._db.execute(
            "INSERT INTO cancellations (id, order_id, key, undone, created_at) VALUES (?, ?, ?, 0, ?)",
            (cancellation_id, order_id, key, iso(now())),
        )
        self._db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
        return 200, {"order": self.order(order_id), "cancellation": cancellation_id}

    def undo_cancellation(self, cancellation_id: str) -> tuple[int, Json]:
        """Reinstate the order a cancellation cancelled, unless it shipped since; an undone one stays as it is."""
        cancellation = self.cancellation(cancellation_id)
        order_id = cancellation["order_id"]
        if not cancellation["undone"]:
            row = self._order_row(order_id)
            if row["shipped"]:
                raise ShopError(
                    409,
                    f"order {order_id} was shipped at {row['shipped_at']}; cancellation {cancellation_id} can no longer be undone",
                )
            self._db.execute("UPDATE cancellations SET undone = 1 WHERE id = ?", (cancellation_id,))
            self._db.execute("UPDATE orders SET status = 'open' WHERE id = ?", (order_id,))
        return 200, {**self.cancellation(cancellation_id), "order": self.order(order_id)}

    def ship(self, order_id: str) -> tuple[int, Json]:
        """Mark an order shipped now (a shipped order keeps its first shipping time)."""
        if not self._order_row(order_id)["shipped"]:
            self._db.execute("UPDATE orders SET shipped = 1, shipped_at = ? WHERE id = ?", (iso(now()), order_id))
        return 200, self.order(order_id)

    def payout(self, order_id: str) -> tuple[int, Json]:
        """Pay out every pending refund of an order."""
        self._order_row(order_id)
        rows = self._db.execute(
            "SELECT id FROM refunds WHERE order_id = ? AND status = 'pending' ORDER BY seq", (order_id,)
        )
        paid = [row["id"] for row in rows.fetchall()]
        self._db.execute(
            "UPDATE refunds SET status = 'paid_out' WHERE order_id = ? AND status = 'pending'", (order_id,)
        )
        return 200, {"paid_out": paid}

    def age(self, order_id: str, body: Json) -> tuple[int, Json]:
        """Move an order's placing time back by `hours` (a test hook)."""
        hours = number_field(body, "hours")
        placed = parse_iso(self._order_row(order_id)["placed_at"]) - timedelta(hours=hours)
        self._db.execute("UPDATE orders SET placed_at = ? WHERE id = ?", (iso(placed), order_id))
        return 200, self.order(order_id)

    # -- helpers -------------------------------------------------------------------------------------------

    def _insert_order(self, order: NewOrder) -> None:
        shipped_at = iso(order.shipped_at) if order.shipped_at else None
        self._db.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, 'open', ?, ?)",
            (order.id, order.customer, iso(order.placed), order.address, shipped_at is not None, shipped_at),
        )
        self._db.executemany(
            "INSERT INTO lines VALUES (?, ?, ?)", [(order.id, sku, cents(price)) for sku, price in order.lines]
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _order_row(self, order_id: str) -> sqlite3.Row:
        return self._row("orders", order_id, "order")

    def _row(self, table: str, row_id: str, noun: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self._db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            raise ShopError(404, f"{noun} {row_id} not found")
        return row

    def _own(self, table: str, row_id: str, order_id: str, parameter: str) -> sqlite3.Row:
        """The row a `without_*` query parameter names, which must belong to the order viewed (else 422)."""
        row: sqlite3.Row | None = self._db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        if row is None or row["order_id"] != order_id:
            raise ShopError(422, f"query parameter {parameter}={row_id} names no {table[:-1]} of order {order_id}")
        return row

    def _refunded(self, order_id: str, sku: str, without_refund: str | None) -> Decimal:
        rows = self._db.execute(
            "SELECT amount FROM refunds WHERE order_id = ? AND sku = ? AND status != 'reversed' AND id IS NOT ?",
            (order_id, sku, without_refund),
        )
        return sum((Decimal(row["amount"]) for row in rows), Decimal("0"))

    def _next_seq(self, table: str) -> int:
        return int(self._db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}").fetchone()[0])

    @staticmethod
    def _check_customer(order: Json, customer: str | None) -> None:
        if customer is not None and customer != order["customer"]:
            raise ShopError(403, f"order {order['id']} is not customer {customer}'s")


def _refund_view(row: sqlite3.Row) -> Json:
    return {key: row[key] for key in ("id", "order_id", "sku", "amount", "status", "key")}


def _error_reply(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}))
