"""Connector activities: execute, verify and compensate one action against the system of record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from cxgov.errors import BadRequest, ConnectorRefused, NotFound
from cxgov.sandbox import Sandbox
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

R = TypeVar("R")


class ConnectorActivities:
    """Connector steps on the sandbox system of record; execute is idempotent on the action id."""

    def __init__(self, *, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @activity.defn(name="execute_action")
    def execute(self, call: ConnectorCall) -> EffectResult:
        """Apply the action's effect once, keyed by the action id."""
        return _business(lambda: self.sandbox.connector(call.action).execute(call))

    @activity.defn(name="verify_action")
    def verify(self, call: ConnectorCall) -> VerifyResult:
        """Read the effect back from the system of record."""
        return _business(lambda: self.sandbox.connector(call.action).verify(call))

    @activity.defn(name="snapshot_action")
    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        """What the action touches in the system of record, as plain data (read-only)."""
        return _business(lambda: self.sandbox.connector(call.action).snapshot(call))

    @activity.defn(name="compensate_action")
    def compensate(self, call: ConnectorCall) -> CompensateResult:
        """Undo the action's effect, if it has one; idempotent."""
        return _business(lambda: self.sandbox.connector(call.action).compensate(call))


def _business(step: Callable[[], R]) -> R:
    """Business refusals are final (non-retryable); anything else is retried as Temporal intends."""
    try:
        return step()
    except (ConnectorRefused, NotFound, BadRequest) as err:
        raise ApplicationError(str(err), type="ConnectorRefused", non_retryable=True) from None
