"""Connector activities: execute, verify, snapshot and compensate one action against its system of record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from cxgov.connectors import Systems
from cxgov.errors import BadRequest, ConnectorRefused, NotFound
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

R = TypeVar("R")
REFUSED = "ConnectorRefused"
"""The error type of a business refusal: final, never retried; at execute, the action ends denied."""


class ConnectorActivities:
    """Connector steps on the systems of record that serve each action; execute is idempotent on the action id."""

    def __init__(self, *, systems: Systems, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.systems = systems
        self.clock = clock

    @activity.defn(name="execute_action")
    def execute(self, call: ConnectorCall) -> EffectResult:
        """Apply the action's effect once, keyed by the action id, after checking its preconditions again."""
        attempt = call.model_copy(update={"attempt": activity.info().attempt})
        return _business(lambda: self.systems.connector(call.action).execute(attempt, now=self.clock()))

    @activity.defn(name="verify_action")
    def verify(self, call: ConnectorCall) -> VerifyResult:
        """Read the effect back from the system of record."""
        return _business(lambda: self.systems.connector(call.action).verify(call))

    @activity.defn(name="snapshot_action")
    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        """What the action touches in the system of record, as plain data (read-only)."""
        return _business(lambda: self.systems.connector(call.action).snapshot(call))

    @activity.defn(name="compensate_action")
    def compensate(self, call: ConnectorCall) -> CompensateResult:
        """Undo the action's effect, if it has one; idempotent."""
        return _business(lambda: self.systems.connector(call.action).compensate(call))


def _business(step: Callable[[], R]) -> R:
    """Business refusals are final (non-retryable); anything else, an outage included, is retried by Temporal."""
    try:
        return step()
    except (ConnectorRefused, NotFound, BadRequest) as err:
        raise ApplicationError(str(err), type=REFUSED, non_retryable=True) from None
