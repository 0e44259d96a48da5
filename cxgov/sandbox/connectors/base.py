"""What every sandbox connector shares: idempotent steps keyed by action id, typed params, faults.

A connector subclass says how to find its effect row for an action id, what stands in the way of a
request, how to apply, read back and undo its effect. This base turns that into the `Connector` steps:
one short transaction per step, the effect row's unique action id as the idempotency key, and the
injected faults consulted at the documented points.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cxgov.connectors.protocol import DrillFixture
from cxgov.errors import BadRequest, ConnectorRefused
from cxgov.sandbox.database import SandboxDatabase
from cxgov.sandbox.faults import fault_armed, take_fault
from cxgov.sandbox.fixture import DRILL_CUSTOMER
from cxgov.sandbox.tables import SandboxTable, as_utc
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, ParamValue, VerifyResult

E = TypeVar("E", bound=SandboxTable)


class SandboxConnector(ABC, Generic[E]):
    """Base of the sandbox connectors; `E` is the table recording this action's effects.

    Args:
        database: The sandbox file every step reads and writes.
    """

    action: str = ""
    """The charter action this connector carries out."""
    preconditions: Mapping[str, str] = {}
    """The declared preconditions this connector can check, with what each means."""
    effect_noun: str = "effect"
    """What one effect is called in summaries: `refund`, `booking`, ..."""
    drill_params: ClassVar[dict[str, ParamValue] | None] = None
    """The params a drill uses on the fixture world (`cxgov.sandbox.fixture`); None: not drillable."""

    def __init__(self, *, database: SandboxDatabase) -> None:
        self.database = database

    def check(self, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime) -> list[str]:
        """Reasons the request cannot proceed, empty when it can (see `Connector.check`)."""
        self._accept(call)
        self._supported(preconditions)
        declared = tuple(dict.fromkeys(preconditions))
        with self.database.reading() as session:
            return self._reasons(session, call, preconditions=declared, now=as_utc(now))

    def execute(self, call: ConnectorCall, *, now: datetime | None = None) -> EffectResult:
        """Apply the effect once per action id, re-checking its preconditions in the same transaction.

        See `Connector.execute`. The write lock is held from the precondition check to the effect, so no
        other writer can change the facts in between.
        """
        self._accept(call)
        self._supported(call.preconditions)
        moment = as_utc(now) if now is not None else datetime.now(UTC)
        prior: E | None = None
        summary = ""
        try:
            with self.database.writing() as session:
                prior = self._effect(session, call.action_id)
                if prior is None:
                    reasons = self._reasons(
                        session, call, preconditions=tuple(dict.fromkeys(call.preconditions)), now=moment
                    )
                    if reasons:
                        raise ConnectorRefused(
                            f"{self.effect_noun} {call.action_id} refused: {'; '.join(reasons)}", action=self.action
                        )
                    summary = self._apply(session, call)
        except IntegrityError:
            # Only reachable if another writer slipped past the write lock; the unique action id decides.
            with self.database.reading() as session:
                prior = self._effect(session, call.action_id)
            if prior is None:
                raise
        if prior is not None:
            return EffectResult(applied=False, summary=self._repeat(call, prior))
        self._after_effect(call)
        return EffectResult(applied=True, summary=summary)

    def verify(self, call: ConnectorCall) -> VerifyResult:
        """Read back that this action id's effect is in place (see `Connector.verify`)."""
        self._accept(call)
        if self._take_fault("verify") is not None:
            return VerifyResult(ok=False, summary="injected fault")
        with self.database.reading() as session:
            effect = self._effect(session, call.action_id)
            if effect is None:
                return VerifyResult(ok=False, summary=f"no {self.effect_noun} recorded for {call.action_id}")
            return self._read_back(session, call, effect)

    def compensate(self, call: ConnectorCall) -> CompensateResult:
        """Undo this action id's effect, once (see `Connector.compensate`)."""
        self._accept(call)
        if self._take_fault("compensate") is not None:
            raise RuntimeError("injected fault: compensate")
        with self.database.writing() as session:
            effect = self._effect(session, call.action_id)
            if effect is None:
                return CompensateResult(
                    undone=False,
                    summary=f"nothing to undo: no {self.effect_noun} recorded for {call.action_id}",
                )
            undone = self._undo(session, call, effect)
        # Fires once the undo is committed: the crash between an undo and its answer, which a retry must survive.
        delay = self._take_fault("pause-compensate")
        if delay is not None:
            time.sleep(delay)
        return undone

    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        """The state of the entities this call touches, as JSON-able plain data.

        An effect that was undone is shown as absent, so the snapshot after a reversal equals the one taken
        before the action exactly when the system of record is back to its pre-action state.
        """
        self._accept(call)
        with self.database.reading() as session:
            return {"action": self.action, "action_id": call.action_id, **self._describe(session, call)}

    def expected_after_undo(self, call: ConnectorCall) -> dict[str, Any]:
        """The snapshot once this call's effect is undone, everything else as it is (see `Connector`)."""
        self._accept(call)
        with self.database.reading() as session:
            described = self._describe(session, call, without_own=True)
            return {"action": self.action, "action_id": call.action_id, **described}

    def drill_fixture(self) -> DrillFixture | None:
        """The fixture customer and this action's drill params, on a sandbox seeded with the fixture world."""
        if self.drill_params is None:
            return None
        return DrillFixture(customer=DRILL_CUSTOMER, params=dict(self.drill_params))

    @abstractmethod
    def _effect(self, session: Session, action_id: str) -> E | None:
        """The effect row recorded for `action_id`, undone or not."""

    @abstractmethod
    def _reasons(
        self, session: Session, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime
    ) -> list[str]:
        """Why the request cannot proceed: the standing facts, then each declared precondition."""

    @abstractmethod
    def _apply(self, session: Session, call: ConnectorCall) -> str:
        """Re-check the standing facts and write the effect; raise ConnectorRefused to write nothing."""

    @abstractmethod
    def _repeat(self, call: ConnectorCall, prior: E) -> str:
        """Summary for a call whose effect was already recorded; ConnectorRefused if it asked otherwise."""

    @abstractmethod
    def _read_back(self, session: Session, call: ConnectorCall, effect: E) -> VerifyResult:
        """Whether `effect` is in place in the system of record now."""

    @abstractmethod
    def _undo(self, session: Session, call: ConnectorCall, effect: E) -> CompensateResult:
        """Undo `effect`; `undone=True` also when it was undone already (an earlier attempt whose answer was
        lost); ConnectorRefused if it cannot be."""

    @abstractmethod
    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        """The touched entities and this action id's effect, as plain data.

        With `without_own`, as they would read with this action id's effect undone (and so absent), worked
        out from the effect's record, not by undoing it.
        """

    def _supported(self, preconditions: Sequence[str]) -> None:
        unsupported = sorted(set(preconditions) - set(self.preconditions))
        if unsupported:
            can = ", ".join(sorted(self.preconditions)) or "none"
            raise ValueError(
                f"the {self.action} connector cannot check precondition {', '.join(unsupported)}; it can check: {can}"
            )

    def _accept(self, call: ConnectorCall) -> None:
        if call.action != self.action:
            raise BadRequest(
                f"the {self.action} connector was called for action {call.action!r} ({call.action_id})",
                field="action",
            )

    def _take_fault(self, step: str) -> float | None:
        # Faults are almost never armed: look first in a read snapshot (no lock), write only to consume one.
        with self.database.reading() as session:
            if not fault_armed(session=session, action=self.action, step=step):
                return None
        with self.database.writing() as session:
            return take_fault(session=session, action=self.action, step=step)

    def _after_effect(self, call: ConnectorCall) -> None:
        # Both faults fire only once the effect is committed: that is the crash they stand for.
        delay = self._take_fault("pause")
        if delay is not None:
            time.sleep(delay)
        if self._take_fault("execute") is not None:
            raise RuntimeError(f"injected fault: execute (the effect of {call.action_id} is committed)")


def text_param(call: ConnectorCall, name: str) -> str:
    """The string parameter `name` of `call`."""
    value = call.params.get(name)
    if not isinstance(value, str):
        raise BadRequest(_param_problem(call, name, "a string"), field=name)
    return value


def money_param(call: ConnectorCall, name: str) -> Decimal:
    """The money parameter `name`; after the wire it may arrive as a Decimal's text, so both are read."""
    value = call.params.get(name)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise BadRequest(_param_problem(call, name, "an amount"), field=name) from None
    else:
        raise BadRequest(_param_problem(call, name, "an amount"), field=name)
    if not amount.is_finite():
        raise BadRequest(_param_problem(call, name, "a finite amount"), field=name)
    return amount


def list_param(call: ConnectorCall, name: str) -> list[str]:
    """The list parameter `name` of `call`, duplicates dropped, order kept."""
    value = call.params.get(name)
    if not isinstance(value, list):
        raise BadRequest(_param_problem(call, name, "a list"), field=name)
    return list(dict.fromkeys(value))


def _param_problem(call: ConnectorCall, name: str, expected: str) -> str:
    if name not in call.params:
        return f"{call.action} {call.action_id}: parameter {name!r} is missing"
    return f"{call.action} {call.action_id}: parameter {name!r} should be {expected}, got {call.params[name]!r}"


def moment_text(moment: datetime) -> str:
    """A moment as people read it in reasons: UTC, to the second."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def span_text(span: timedelta) -> str:
    """A duration in its two largest units: `3d 0h`, `2h 5m`, `45s`."""
    seconds = int(span.total_seconds())
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
