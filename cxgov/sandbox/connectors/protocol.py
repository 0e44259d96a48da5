"""What a connector is: the steps an action workflow runs against a system of record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

PRECONDITIONS = frozenset({"not_dispatched", "placed_within_24h", "capacity"})
"""Every precondition a charter may declare:

- `not_dispatched`: the order has not left the warehouse.
- `placed_within_24h`: the order was placed less than 24 hours before the check.
- `capacity`: the clinic slot has a free seat (booked < capacity).
"""


class Connector(Protocol):
    """One action's steps against a system of record. `call.action_id` is the idempotency key."""

    @property
    def action(self) -> str:
        """The charter action this connector carries out."""
        ...

    @property
    def preconditions(self) -> frozenset[str]:
        """The declared preconditions this connector can check."""
        ...

    def check(self, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime) -> list[str]:
        """Reasons the request cannot proceed, empty when it can.

        Ownership, existence and amounts are always checked; each name in `preconditions` is checked too.

        Raises:
            ValueError: A precondition this connector cannot check.
            BadRequest: A parameter is missing or of the wrong type.
        """
        ...

    def execute(self, call: ConnectorCall) -> EffectResult:
        """Apply the effect once per action id; a repeat returns `applied=False`.

        Raises:
            ConnectorRefused: The facts no longer allow the effect; nothing was changed.
        """
        ...

    def verify(self, call: ConnectorCall) -> VerifyResult:
        """Read back that this action id's effect is in place."""
        ...

    def compensate(self, call: ConnectorCall) -> CompensateResult:
        """Undo this action id's effect; `undone=False` when there was none or it was already undone.

        Raises:
            ConnectorRefused: The effect can no longer be undone (or never could); nothing was changed.
        """
        ...

    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        """The state of the entities this call touches, as JSON-able plain data."""
        ...

    def expected_after_undo(self, call: ConnectorCall) -> dict[str, Any]:
        """`snapshot(call)` as it must read once this call's effect is undone, all else as it is now.

        Equal to the pre-action snapshot unless something else changed the same entities since the action
        (another refund on the same line, another booking of the same slot). It is worked out from what the
        effect recorded, never by running the undo, so a wrong undo cannot vouch for itself.
        """
        ...
