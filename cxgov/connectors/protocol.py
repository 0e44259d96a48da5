"""The public protocols a system of record and its connectors implement.

cxgov decides with facts from a **system of record** (a customer's segment, whether the event that ends an
`until` reversal happened, whether a declared precondition holds) and changes it only through one
**connector** per charter action. The built-in sandbox is one implementation; `cxgov.connectors.http` is
another (any system that speaks HTTP); a company's own Python code can be a third. Activities and the worker
depend on these protocols only.

Every method is called from a worker thread (never from workflow code) and may do I/O. A connector raises
`ConnectorRefused` for a business refusal (nothing was changed; the message reaches the caller),
`SystemUnavailable` when the system cannot answer now (Temporal retries the step), and nothing else for
expected situations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, ParamValue, VerifyResult


@dataclass(frozen=True)
class DrillFixture:
    """What a reversal drill acts on in the system's sandbox: a customer and the action's params."""

    customer: str
    params: dict[str, ParamValue] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """One charter action's steps against a system of record. `call.action_id` is the idempotency key."""

    @property
    def action(self) -> str:
        """The charter action this connector carries out."""
        ...

    @property
    def preconditions(self) -> Mapping[str, str]:
        """The preconditions this connector can check, each with what it means (`capacity`: "the slot has room")."""
        ...

    def check(self, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime) -> list[str]:
        """Reasons the request cannot proceed now, empty when it can.

        Ownership (what the call acts on belongs to `call.customer`), existence and amounts are always
        checked; so is each name in `preconditions`. Read-only.

        Raises:
            BadRequest: A parameter is missing or of the wrong type.
            SystemUnavailable: The system cannot answer now.
        """
        ...

    def execute(self, call: ConnectorCall, *, now: datetime | None = None) -> EffectResult:
        """Apply the effect once per `call.action_id`; a repeat returns `applied=False` and the same record.

        `call.preconditions` are checked again here, atomically with the effect where the system allows it
        (an approval can take hours, and facts change): a false one raises `ConnectorRefused` with the fresh
        reason, and nothing is changed. `EffectResult.record` holds what later steps need to find the
        effect (an id the system assigned); it comes back as `call.effect` in verify, compensate and snapshot.

        Raises:
            ConnectorRefused: The facts do not allow the effect now; nothing was changed.
            SystemUnavailable: The system cannot answer now; the step is retried with the same action id.
        """
        ...

    def verify(self, call: ConnectorCall) -> VerifyResult:
        """Read back that this action id's effect is in place."""
        ...

    def compensate(self, call: ConnectorCall) -> CompensateResult:
        """Undo this action id's effect; `undone=False` only when there was none to undo.

        A second call for the same action id (a retry after a crash lost the first answer) answers as the first
        did: `undone=True`, without undoing anything again.

        Raises:
            ConnectorRefused: The effect can no longer be undone (or never could); nothing was changed.
        """
        ...

    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        """The state of what this call touches, as JSON-able plain data; an undone effect reads as absent."""
        ...

    def expected_after_undo(self, call: ConnectorCall) -> dict[str, Any] | None:
        """`snapshot(call)` as it must read once this call's effect is undone, everything else as it is now.

        Worked out from what the effect recorded, never by running the undo, so a wrong undo cannot vouch for
        itself. None when the system cannot tell: a reversal must then leave exactly the pre-action snapshot.
        """
        ...

    def drill_fixture(self) -> DrillFixture | None:
        """The customer and params a reversal drill uses, on the connector of the system's drill sandbox.

        Called only on connectors of `SystemOfRecord.drill_system()`; it may create the fixture there. None
        when the action cannot be drilled: its undo then stays untested, and rule 5 keeps a person in the loop.
        """
        ...


@runtime_checkable
class SystemOfRecord(Protocol):
    """A system that holds the facts decisions need and serves one connector per action it can carry out."""

    @property
    def name(self) -> str:
        """A short name for messages: `sandbox`, `shop`."""
        ...

    @property
    def description(self) -> str:
        """One line for `cxgov up`: where the system is."""
        ...

    @property
    def connectors(self) -> Mapping[str, Connector]:
        """Every connector this system offers, by the charter action it carries out."""
        ...

    @property
    def until_events(self) -> Mapping[str, str]:
        """The events ending an `until` reversal that this system can tell, each with what it means."""
        ...

    def segment(self, customer: str) -> str | None:
        """The customer's segment, or None for a customer the system does not know.

        Raises:
            SystemUnavailable: The system cannot answer now.
        """
        ...

    def happened(self, event: str, call: ConnectorCall) -> bool:
        """Whether `event` (one of `until_events`) happened to the effect of `call` (`call.effect` is set).

        Raises:
            SystemUnavailable: The system cannot answer now.
        """
        ...

    def drill_system(self, workspace: Path) -> SystemOfRecord | None:
        """The system's sandbox for one reversal drill, never the live system; None when it has none.

        `workspace` is a directory of the drill's own, removed when the drill is recorded; a system that
        builds its sandbox from files (the built-in one) keeps them there.
        """
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
