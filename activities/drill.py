"""Drill activities: a fresh fixture in the action's system sandbox, connector steps on it, the recorded result."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from cxgov.charter import CharterCache
from cxgov.connectors import Connector, SystemOfRecord, Systems
from cxgov.drills.ledger import DrillGate, DrillLedger
from cxgov.errors import CxgovError
from cxgov.gaps import drill_findings
from cxgov.notices import drill_overdue_notice
from cxgov.notify import Notice
from cxgov.wire import (
    ConnectorCall,
    DrillInput,
    DrillPlan,
    DrillResult,
    DrillStepInput,
    DrillStepResult,
    DrillWatchInput,
)


class DrillActivities:
    """Reversal drills in each system's own sandbox (never the live system), with files under `workspace_root`."""

    def __init__(
        self,
        *,
        charters: CharterCache,
        systems: Systems,
        ledger: DrillLedger,
        workspace_root: Path,
        gate: DrillGate | None = None,
        step_timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.charters = charters
        self.systems = systems
        self.ledger = ledger
        self.workspace_root = workspace_root
        self.gate = gate
        self.step_timeout_seconds = step_timeout_seconds

    @activity.defn(name="drill_prepare")
    def prepare(self, input: DrillInput) -> DrillPlan:
        """Set up the drill's fixture for `input.action` and take its snapshot before the action."""
        info = activity.info()
        drill_id = f"{info.workflow_id}/{info.workflow_run_id}"
        workspace = self.workspace_root / f"{input.action}-{info.workflow_run_id}"
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
        plan.owner_role = definition.reversal.owner
        if definition.reversal.kind == "irreversible":
            plan.problem = f"{input.action} is irreversible: there is no undo to drill"
            return plan
        try:
            drill = self._drill_system(input.action, workspace)
            try:
                fixture = _connector(drill, input.action).drill_fixture()
                if fixture is None:
                    plan.problem = f"system {drill.name} has no drill fixture for {input.action}: its undo is untested"
                    return plan
                call = ConnectorCall(
                    action_id=drill_id,
                    action=input.action,
                    customer=fixture.customer,
                    params=fixture.params,
                    preconditions=list(definition.preconditions),
                )
                plan.before = _connector(drill, input.action).snapshot(call)
            finally:
                drill.close()
        except CxgovError as err:
            plan.problem = str(err)
            return plan
        plan.call = call
        return plan

    @activity.defn(name="drill_step")
    def step(self, input: DrillStepInput) -> DrillStepResult:
        """One connector step in the drill's sandbox; a failure is a result, not an exception."""
        call = input.call
        try:
            drill = self._drill_system(call.action, Path(input.workspace))
        except CxgovError as err:
            return DrillStepResult(ok=False, summary=str(err))
        try:
            connector = _connector(drill, call.action)
            run: dict[str, Callable[[], DrillStepResult]] = {
                "execute": lambda: _executed(connector, call),
                "verify": lambda: _verified(connector, call),
                "compensate": lambda: _compensated(connector, call),
                "snapshot": lambda: DrillStepResult(ok=True, summary="state read", world=connector.snapshot(call)),
            }
            try:
                return run[input.step]()
            except Exception as err:  # the drill reports the failing step; it does not retry a broken undo
                return DrillStepResult(ok=False, summary=f"{type(err).__name__}: {err}")
        finally:
            drill.close()

    @activity.defn(name="overdue_drill_notices")
    def overdue_notices(self, _: DrillWatchInput) -> list[Notice]:
        """A notice per reversible action whose undo has gone unproven too long (never drilled, or its last pass
        older than drills.max_age), keyed by its last pass: its owners hear once per overdue spell. A failing
        drill is not repeated here: its failure was told when it ran."""
        charter = self.charters.get()
        notices = []
        for finding in drill_findings(charter, self.ledger, now=self.clock()):
            if finding.last_run is not None and finding.last_result != "passed":
                continue
            since = finding.last_pass.isoformat(timespec="seconds") if finding.last_pass else "never"
            notices.append(
                drill_overdue_notice(
                    finding.action,
                    why=finding.why,
                    consequence=finding.consequence,
                    since=since,
                    owner_role=charter.actions[finding.action].reversal.owner,
                )
            )
        return notices

    @activity.defn(name="drill_record")
    def record(self, result: DrillResult) -> bool:
        """Store the drill result in the ledger and remove the drill's files."""
        recorded = self.ledger.record(result=result)
        if self.gate is not None:
            self.gate.forget(result.action)
        if result.workspace:
            workspace = Path(result.workspace)
            if workspace.is_dir():
                shutil.rmtree(workspace, ignore_errors=True)
            for suffix in ("", "-wal", "-shm"):  # a drill recorded before workspaces were directories
                Path(result.workspace + suffix).unlink(missing_ok=True)
        return recorded

    def _drill_system(self, action: str, workspace: Path) -> SystemOfRecord:
        live = self.systems.system(action)
        drill = live.drill_system(workspace)
        if drill is None:
            raise CxgovError(f"system {live.name} has no sandbox to drill in: the undo of {action} is untested")
        return drill


def _connector(system: SystemOfRecord, action: str) -> Connector:
    found = system.connectors.get(action)
    if found is None:
        raise CxgovError(f"the sandbox of system {system.name} has no connector for {action}")
    return found


def _executed(connector: Connector, call: ConnectorCall) -> DrillStepResult:
    effect = connector.execute(call)
    return DrillStepResult(ok=True, summary=effect.summary, record=effect.record)


def _verified(connector: Connector, call: ConnectorCall) -> DrillStepResult:
    result = connector.verify(call)
    return DrillStepResult(ok=result.ok, summary=result.summary)


def _compensated(connector: Connector, call: ConnectorCall) -> DrillStepResult:
    result = connector.compensate(call)
    if not result.undone:
        return DrillStepResult(ok=False, summary=f"nothing was undone: {result.summary}")
    return DrillStepResult(ok=True, summary=result.summary)
