"""The sandbox system of record: a world of customers, orders, clinics and recipients in one SQLite file.

Safe to use at once from many threads and from other processes: each method is one short transaction,
and races (the same action id twice, the last seat of a slot) are settled by the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlmodel import col, select

from cxgov.connectors.protocol import Connector
from cxgov.errors import BadRequest, NotFound
from cxgov.sandbox.connectors import (
    BookAppointmentConnector,
    CancelOrderConnector,
    ChangeAddressConnector,
    RefundConnector,
    ShareCustomerDataConnector,
)
from cxgov.sandbox.connectors.base import SandboxConnector, moment_text
from cxgov.sandbox.database import SandboxDatabase
from cxgov.sandbox.faults import add_fault, take_fault
from cxgov.sandbox.fixture import write_fixture
from cxgov.sandbox.seed import WorldSummary, load_seed, summarize
from cxgov.sandbox.tables import Customer, Order, Refund, as_utc
from cxgov.sandbox.world import describe_world, replace_world, world_is_empty
from cxgov.wire import ConnectorCall

CONNECTOR_TYPES: tuple[type[SandboxConnector[Any]], ...] = (
    RefundConnector,
    ChangeAddressConnector,
    CancelOrderConnector,
    BookAppointmentConnector,
    ShareCustomerDataConnector,
)


UNTIL_EVENTS: dict[str, str] = {
    "payout": "the refund is paid out",
    "dispatch": "the order is dispatched",
}
"""The events ending an `until` reversal that the sandbox can tell (`cxgov sandbox payout|dispatch` cause them)."""


class Sandbox:
    """The built-in system of record the reference actions run against (a `SystemOfRecord`).

    Args:
        path: The SQLite file; it and its parent directory are created when missing.
        connector_types: The connector classes to build, one per action; the five reference connectors by
            default.
        drill_connector_types: The connector classes of this sandbox's drill sandboxes; `connector_types` by
            default (a test passes a deliberately broken one to see a reversal drill fail).
    """

    name = "sandbox"

    def __init__(
        self,
        path: Path,
        *,
        connector_types: Sequence[type[SandboxConnector[Any]]] | None = None,
        drill_connector_types: Sequence[type[SandboxConnector[Any]]] | None = None,
    ) -> None:
        self.path = path
        self.connector_types = tuple(connector_types or CONNECTOR_TYPES)
        self.drill_connector_types = tuple(drill_connector_types or self.connector_types)
        self.seeded = ""
        """What the last seeding did, for `cxgov up`."""
        self._database = SandboxDatabase(path)
        built: list[Connector] = [kind(database=self._database) for kind in self.connector_types]
        self._connectors: Mapping[str, Connector] = MappingProxyType({c.action: c for c in built})

    @property
    def description(self) -> str:
        """Where the world is, and what seeding did."""
        return f"sandbox ({self.path}{': ' + self.seeded if self.seeded else ''})"

    @property
    def connectors(self) -> Mapping[str, Connector]:
        """Every sandbox connector, by the charter action it carries out."""
        return self._connectors

    @property
    def until_events(self) -> Mapping[str, str]:
        """`payout` and `dispatch`."""
        return UNTIL_EVENTS

    def happened(self, event: str, call: ConnectorCall) -> bool:
        """Has `event` happened to the effect of `call`: its refund paid out, its order dispatched?

        Raises:
            BadRequest: An event the sandbox cannot tell.
        """
        if event not in UNTIL_EVENTS:
            raise BadRequest(f"the sandbox cannot tell event {event!r}", field="until")
        snapshot = self.connector(call.action).snapshot(call)
        if event == "payout":
            return bool((snapshot.get("refund") or {}).get("paid_out"))
        return bool((snapshot.get("order") or {}).get("dispatched"))

    def drill_system(self, workspace: Path) -> Sandbox:
        """A sandbox of its own in `workspace`, seeded with the drill fixture world when new."""
        drill = Sandbox(workspace / "sandbox.db", connector_types=self.drill_connector_types)
        if drill.is_empty():
            seed = write_fixture(workspace)
            drill.load_world(seed=seed)
            seed.unlink(missing_ok=True)
        return drill

    def connector(self, action: str) -> Connector:
        """The connector for `action`.

        Raises:
            NotFound: No sandbox connector carries out `action`.
        """
        found = self._connectors.get(action)
        if found is None:
            known = ", ".join(sorted(self._connectors))
            raise NotFound(f"the sandbox has no connector for action {action!r}; it has: {known}")
        return found

    def load_world(self, *, seed: Path, now: datetime | None = None) -> WorldSummary:
        """Replace the whole world (and every recorded effect) with the one in `seed`.

        The file is validated in full before anything is written, and the replacement is one transaction,
        so a bad file leaves the sandbox as it was. Armed faults are kept: they are not part of the world.

        Args:
            seed: The seed file (format: `examples/sandbox.yaml`).
            now: The load moment relative times ("-2h") count back from; the current time by default.

        Raises:
            SeedError: The file does not load; the message names file, line and key.
        """
        moment = as_utc(now) if now is not None else datetime.now(UTC)
        world = load_seed(seed, now=moment)
        with self._database.writing() as session:
            replace_world(session=session, seed=world, now=moment)
        return summarize(world, path=seed, now=moment)

    def seed_when_empty(self, *, seed: Path, now: datetime | None = None) -> WorldSummary | None:
        """Load `seed` only if no world is loaded yet: what was loaded, or None when a world was there.

        The check and the load are one transaction holding the file's write lock, so workers starting together
        on one file (`docker compose up --scale cxgov-worker=3`) seed it exactly once, and a worker starting
        late never wipes the effects the others already recorded.

        Raises:
            SeedError: The file does not load; the sandbox is left as it was.
        """
        if not self.is_empty():
            return None  # the common case, without reading the seed file or taking the write lock
        moment = as_utc(now) if now is not None else datetime.now(UTC)
        world = load_seed(seed, now=moment)
        with self._database.writing() as session:
            if not world_is_empty(session=session):
                return None  # another process seeded it between the two looks
            replace_world(session=session, seed=world, now=moment)
        return summarize(world, path=seed, now=moment)

    def is_empty(self) -> bool:
        """True when no world has been loaded yet."""
        with self._database.reading() as session:
            return world_is_empty(session=session)

    def segment(self, customer: str) -> str | None:
        """The segment the system of record holds for `customer`, or None for an unknown customer."""
        with self._database.reading() as session:
            found = session.get(Customer, customer)
            return None if found is None else found.segment

    def dispatch(self, *, order: str) -> str:
        """Simulate the order leaving the warehouse; after this its address changes cannot be reversed.

        Raises:
            NotFound: No such order.
            BadRequest: The order is cancelled.
        """
        with self._database.writing() as session:
            found = session.get(Order, order)
            if found is None:
                raise NotFound(f"order {order} does not exist in the sandbox")
            if found.dispatched:
                return f"order {order} was already dispatched at {_moment(found.dispatched_at)}"
            if found.cancelled:
                raise BadRequest(f"order {order} is cancelled; there is nothing to dispatch", field="order")
            found.dispatched = True
            found.dispatched_at = datetime.now(UTC)
            session.add(found)
            return f"order {order} dispatched at {_moment(found.dispatched_at)}; its address is now final"

    def payout(self, *, order: str) -> str:
        """Simulate the payout run for `order`: every pending refund on it is paid out and becomes final.

        Raises:
            NotFound: No such order.
        """
        with self._database.writing() as session:
            if session.get(Order, order) is None:
                raise NotFound(f"order {order} does not exist in the sandbox")
            pending = session.exec(
                select(Refund).where(
                    col(Refund.order_id) == order,
                    col(Refund.paid_out).is_(False),
                    col(Refund.reversed).is_(False),
                )
            ).all()
            for refund in pending:
                refund.paid_out = True
                session.add(refund)
            if not pending:
                return f"order {order}: no pending refunds to pay out"
            total = sum((refund.amount for refund in pending), Decimal(0))
            return f"order {order}: paid out {len(pending)} pending refund(s) totalling {total}; they are now final"

    def add_fault(self, *, action: str, step: str, times: int = 1, delay_seconds: float = 0) -> None:
        """Arm a fault on one connector step (see `cxgov.sandbox.faults` for the steps).

        Raises:
            NotFound: No connector for `action`.
            BadRequest: Unknown step, times < 1, or a negative delay.
        """
        self.connector(action)
        with self._database.writing() as session:
            add_fault(session=session, action=action, step=step, times=times, delay_seconds=delay_seconds)

    def take_fault(self, *, action: str, step: str) -> float | None:
        """Consume one armed fault of `step` on `action`: its delay in seconds, or None when none is armed."""
        with self._database.writing() as session:
            return take_fault(session=session, action=action, step=step)

    def world_snapshot(self) -> dict[str, Any]:
        """The whole world as JSON-able plain data in a fixed order; undone effects are left out."""
        with self._database.reading() as session:
            return describe_world(session=session)

    def close(self) -> None:
        """Release the database connections."""
        self._database.close()


def _moment(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else moment_text(moment)
