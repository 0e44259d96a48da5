"""Helpers of the reversal drill tests: a worker with a drill ledger, drill connectors whose undo only pretends,
a clock that follows the time-skipping server's virtual time, and a Temporal namespace of one's own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from harness import CHARTER, Stack, start_stack
from harness import own_namespace as fresh_namespace
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cxgov.connection import governed
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.sandbox.connectors.base import SandboxConnector
from cxgov.sandbox.store import CONNECTOR_TYPES
from cxgov.wire import ActionRequest, CompensateResult, ConnectorCall, DrillInput, DrillResult
from workflows.drill import DrillWorkflow

T = TypeVar("T")

DRILLED = ("refund", "change_address", "cancel_order", "book_appointment")
"""The reference charter's reversible actions: each has a `drill-<action>` schedule and a drill fixture."""
REFUND_TEE_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
"""support-bot may refund this without approval (40 is within approve_above 50) while its undo is trusted."""
BOOK_NORTH_9 = {"clinic": "north", "slot": "2026-12-01T09:00"}
"""A slot with one seat left; book_appointment has no approval ladder."""


@dataclass
class DrillStack(Stack):
    """A stack whose worker runs reversal drills and records them in `ledger`; decisions read it (rule 5)."""

    ledger: DrillLedger
    workspace: Path
    """Where the worker's drills put their own sandbox files."""


DrillStackFactory = Callable[..., Awaitable[DrillStack]]
"""The `drill_stack` fixture: `await drill_stack(temporal=..., charter_path=..., connector_types=..., clock=...)`."""


async def start_drill_stack(
    temporal: Client,
    sandbox: Sandbox,
    *,
    ledger: DrillLedger,
    workspace: Path,
    charter_path: Path = CHARTER,
    connector_types: Sequence[type[SandboxConnector[Any]]] | None = None,
    clock: Callable[[], datetime] | None = None,
    **options: Any,
) -> tuple[DrillStack, Worker]:
    """A worker with a drill ledger on its own task queue; `connector_types` are those drills use; `options` go
    to `build_worker` (a notifier, ...)."""
    if connector_types is not None:
        sandbox.drill_connector_types = tuple(connector_types)
    stack, worker = await start_stack(
        temporal, sandbox, charter_path=charter_path, drills=ledger, drill_workspace=workspace, clock=clock, **options
    )
    shared = {field.name: getattr(stack, field.name) for field in fields(Stack)}
    return DrillStack(**shared, ledger=ledger, workspace=workspace), worker


async def run_drill(stack: Stack, action: str) -> DrillResult:
    """Run one reversal drill of `action` now (as `cxgov drills run` does) and return its result."""
    return await stack.temporal.execute_workflow(
        DrillWorkflow.run,
        DrillInput(action=action),
        id=f"drill-{action}-test-{uuid.uuid4().hex[:8]}",
        task_queue=stack.task_queue,
    )


def request(
    stack: Stack, *, action: str = "refund", params: dict[str, Any] | None = None, **fields: Any
) -> ActionRequest:
    """A support-bot request by chat for customer C-100 (default: refund 40 on the tee)."""
    values: dict[str, Any] = {"actor": "support-bot", "customer": "C-100", "channel": "chat", "reason": "asked"}
    chosen = params if params is not None else (dict(REFUND_TEE_40) if action == "refund" else {})
    return stack.client.request(action=action, params=chosen, **{**values, **fields})


class UndoSwitch:
    """Whether a `pretending` connector's undo only pretends (on by default); tests flip it between drills."""

    def __init__(self, *, broken: bool = True) -> None:
        self.broken = broken


def pretending(base: type[SandboxConnector[Any]], switch: UndoSwitch | None = None) -> type[SandboxConnector[Any]]:
    """`base` with a compensate that reports success but changes nothing while `switch` is broken."""
    flag = switch or UndoSwitch()

    class Pretending(base):  # type: ignore[valid-type,misc]
        def _undo(self, session: Session, call: ConnectorCall, effect: Any) -> CompensateResult:
            if flag.broken:
                return CompensateResult(undone=True, summary=f"said the {self.effect_noun} was undone; it was not")
            result: CompensateResult = super()._undo(session, call, effect)
            return result

    Pretending.__name__ = f"Pretending{base.__name__}"
    return Pretending


def connector_types_with(*replacements: type[SandboxConnector[Any]]) -> list[type[SandboxConnector[Any]]]:
    """The five reference connectors, with each replacement standing in for the one of its action."""
    by_action = {kind.action: kind for kind in replacements}
    return [by_action.get(kind.action, kind) for kind in CONNECTOR_TYPES]


class VirtualClock:
    """UTC now on the time-skipping server's virtual clock, for `build_worker(clock=...)`.

    A drill's `finished` is the drill workflow's `workflow.now()`, which is virtual under time skipping, while
    rule 5 compares it with the worker's clock. A wall clock would never see 90 days pass, and a wall clock
    plus a fixed offset would see even a drill that passed just now as 90 days old. This clock is the wall
    clock plus the virtual clock's lead, re-read with `sync()` after each skip, so both sides agree.
    """

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.lead = timedelta(0)

    async def sync(self) -> datetime:
        virtual = await self.env.get_current_time()
        self.lead = virtual - datetime.now(UTC)
        return virtual

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.lead


async def own_namespace(env: WorkflowEnvironment) -> Client:
    """A fresh namespace, so `drill-<action>` schedule ids collide with no other test."""
    return governed(await fresh_namespace(env, prefix="drills"))


async def schedule_ids(client: Client) -> set[str]:
    """The ids of the namespace's schedules as visibility lists them (eventually consistent)."""
    return {listed.id async for listed in await client.list_schedules()}


async def delete_schedules(client: Client) -> None:
    """Delete what a test left scheduled in its namespace."""
    for schedule_id in await schedule_ids(client):
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id).delete()
