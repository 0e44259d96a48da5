"""Drill activities: seed a fresh sandbox fixture, run connector steps on it, record the result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio import activity

from cxgov.charter import CharterCache
from cxgov.drills.fixture import drill_call, write_fixture
from cxgov.drills.ledger import DrillGate, DrillLedger
from cxgov.errors import CxgovError
from cxgov.sandbox import Sandbox
from cxgov.sandbox.connectors.base import SandboxConnector
from cxgov.wire import DrillInput, DrillPlan, DrillResult, DrillStepInput, DrillStepResult


class DrillActivities:
    """Reversal drills on their own sandbox files under `workspace_root`, never the live system of record."""

    def __init__(
        self,
        *,
        charters: CharterCache,
        ledger: DrillLedger,
        workspace_root: Path,
        gate: DrillGate | None = None,
        connector_types: Sequence[type[SandboxConnector[Any]]] | None = None,
        step_timeout_seconds: float = 10.0,
    ) -> None:
        self.charters = charters
        self.ledger = ledger
        self.workspace_root = workspace_root
        self.gate = gate
        self.connector_types = connector_types
        self.step_timeout_seconds = step_timeout_seconds

    def _sandbox(self, workspace: str) -> Sandbox:
        return Sandbox(Path(workspace), connector_types=self.connector_types)

    @activity.defn(name="drill_prepare")
    def prepare(self, input: DrillInput) -> DrillPlan:
        """Seed a fresh fixture for `input.action` and take the world's snapshot before the action."""
        info = activity.info()
        drill_id = f"{info.workflow_id}/{info.workflow_run_id}"
        workspace = self.workspace_root / f"{input.action}-{info.workflow_run_id}.db"
        plan = DrillPlan(workspace=str(workspace), step_timeout_seconds=self.step_timeout_seconds)
        try:
            charter = self.charters.get()
        except CxgovError as err:
            plan.problem = f"the charter does not load: {err}"
            return plan
        plan.charter_version = charter.version
        definition = charter.actions.get(input.action)
        if definition is None:
            plan.problem = f"action {input.action} is not in charter v{charter.version}"
            return plan
        if definition.reversal.kind == "irreversible":
            plan.problem = f"{input.action} is irreversible: there is no undo to drill"
            return plan
        call = drill_call(action=input.action, drill_id=drill_id)
        if call is None:
            plan.problem = f"no drill fixture for {input.action}: its undo is untested"
            return plan
        seed = write_fixture(workspace)
        box = self._sandbox(str(workspace))
        try:
            box.load_world(seed=seed)
            plan.before = box.world_snapshot()
        finally:
            box.close()
            seed.unlink(missing_ok=True)
        plan.call = call
        return plan

    @activity.defn(name="drill_step")
    def step(self, input: DrillStepInput) -> DrillStepResult:
        """One connector step on the drill's sandbox; a failure is a result, not an exception."""
        box = self._sandbox(input.workspace)
        try:
            connector = box.connector(input.call.action)
            run: dict[str, Callable[[], DrillStepResult]] = {
                "execute": lambda: DrillStepResult(ok=True, summary=connector.execute(input.call).summary),
                "verify": lambda: _verified(connector.verify(input.call)),
                "compensate": lambda: _compensated(connector.compensate(input.call)),
                "snapshot": lambda: DrillStepResult(ok=True, summary="world read", world=box.world_snapshot()),
            }
            try:
                return run[input.step]()
            except Exception as err:  # the drill reports the failing step; it does not retry a broken undo
                return DrillStepResult(ok=False, summary=f"{type(err).__name__}: {err}")
        finally:
            box.close()

    @activity.defn(name="drill_record")
    def record(self, result: DrillResult) -> bool:
        """Store the drill result in the ledger and remove the drill's sandbox files."""
        recorded = self.ledger.record(result=result)
        if self.gate is not None:
            self.gate.forget(result.action)
        if result.workspace:
            for suffix in ("", "-wal", "-shm"):
                Path(result.workspace + suffix).unlink(missing_ok=True)
        return recorded


def _verified(result: Any) -> DrillStepResult:
    return DrillStepResult(ok=bool(result.ok), summary=str(result.summary))


def _compensated(result: Any) -> DrillStepResult:
    if not result.undone:
        return DrillStepResult(ok=False, summary=f"nothing was undone: {result.summary}")
    return DrillStepResult(ok=True, summary=str(result.summary))
