"""Connector activities: execute, verify, snapshot and compensate one action against its system of record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from cxgov.connectors import Systems
from cxgov.errors import BadRequest, ConnectorRefused, NotFound
from cxgov.identity.signing import sealed
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

R = TypeVar("R")
UNSEALED = "Unauthorized"
"""The error type of an effect step called without authorize's seal: final, never retried."""
REFUSED = "ConnectorRefused"
"""The error type of a business refusal: final, never retried; at execute, the action ends denied."""


class ConnectorActivities:
    """Connector steps on the systems of record that serve each action; execute is idempotent on the action id."""

    def __init__(
        self, *, systems: Systems, seal_secret: bytes, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.systems = systems
        self.seal_secret = seal_secret
        self.clock = clock

    @activity.defn(name="execute_action")
    def execute(self, call: ConnectorCall) -> EffectResult:
        """Apply the action's effect once, keyed by the action id, after checking its preconditions again."""
        self._sealed(call, "execute")
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
        self._sealed(call, "compensate")
        return _business(lambda: self.systems.connector(call.action).compensate(call))

    def _sealed(self, call: ConnectorCall, step: str) -> None:
        """Effects run only for a call authorize sealed; scheduled by any other workflow, they refuse."""
        if not sealed(self.seal_secret, call):
            info = activity.info()
            raise ApplicationError(
                f"{step} of {call.action_id} refused: no decision of cxgov's authorize allows this call "
                f"(scheduled by workflow {info.workflow_type} {info.workflow_id})",
                type=UNSEALED,
                non_retryable=True,
            )


def _business(step: Callable[[], R]) -> R:
    """Business refusals are final (non-retryable); anything else, an outage included, is retried by Temporal."""
    try:
        return step()
    except (ConnectorRefused, NotFound, BadRequest) as err:
        raise ApplicationError(str(err), type=REFUSED, non_retryable=True) from None
