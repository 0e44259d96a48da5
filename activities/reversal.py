"""Reversal activities: read the action from its workflow, and check the reversal against charter and record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cxgov.charter import CharterCache
from cxgov.connectors import Systems
from cxgov.errors import CxgovError, SystemUnavailable
from cxgov.wire import ActionState, ConnectorCall, LoadedAction, ReversalCheckInput, ReversalPlan, Status


class ReversalActivities:
    """Reads actions through the Temporal client; decides reversals with the charter and the systems of record."""

    def __init__(
        self,
        *,
        client: Client,
        charters: CharterCache,
        systems: Systems,
        step_timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.charters = charters
        self.systems = systems
        self.step_timeout_seconds = step_timeout_seconds
        self.clock = clock

    @activity.defn(name="load_action")
    async def load_action(self, action_id: str) -> LoadedAction:
        """The final state of action `action_id`, or why there is none to reverse."""
        handle = self.client.get_workflow_handle(action_id, result_type=ActionState)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return LoadedAction(problem=f"no action {action_id}")
            raise
        if description.workflow_type != "action":
            return LoadedAction(problem=f"{action_id} is a {description.workflow_type} workflow, not an action")
        if description.status == WorkflowExecutionStatus.RUNNING:
            state = await handle.query("state", result_type=ActionState)
            hint = "; deny it instead" if state.status == Status.AWAITING_APPROVAL else ""
            return LoadedAction(problem=f"action {action_id} is {state.status.value}, not completed{hint}")
        if description.status != WorkflowExecutionStatus.COMPLETED:
            status = description.status.name.lower() if description.status else "closed"
            return LoadedAction(problem=f"action {action_id} ended {status}; there is no completed action to reverse")
        return LoadedAction(state=await handle.result())

    @activity.defn(name="authorize_reversal")
    def authorize_reversal(self, input: ReversalCheckInput) -> ReversalPlan:
        """May this person reverse this action now? Refusals carry the charter's procedure."""
        request, action = input.request, input.action
        try:
            charter = self.charters.get()
        except CxgovError as err:
            return ReversalPlan(refusal=f"the charter does not load: {err}")
        plan = ReversalPlan(charter_version=charter.version, step_timeout_seconds=self.step_timeout_seconds)
        if action.status != Status.COMPLETED:
            plan.refusal = (
                f"action {action.action_id} is {action.status.value}: only a completed action can be reversed"
            )
            return plan
        name = action.request.action
        definition = charter.actions.get(name)
        if definition is None:
            plan.refusal = f"action {name} is not in charter v{charter.version}: nobody may reverse it"
            return plan
        reversal = definition.reversal
        plan.procedure, plan.owner_role = reversal.procedure, reversal.owner
        procedure = f"; procedure: {reversal.procedure}"
        if reversal.kind == "irreversible":
            plan.refusal = f"{name} is irreversible{procedure}"
            return plan
        if reversal.owner is None:
            plan.refusal = (
                f"{name} has no reversal owner in charter v{charter.version}: nobody may reverse it{procedure}"
            )
            return plan
        owners = [p for p in charter.members(reversal.owner) if not charter.people[p].suspended]
        if request.person not in owners:
            plan.refusal = (
                f"{request.person} is not in {name}'s reversal owner role {reversal.owner} "
                f"(who may reverse: {', '.join(owners) or 'nobody'})"
            )
            return plan
        coverage = charter.roles[reversal.owner].coverage if reversal.owner in charter.roles else None
        plan.escalate_to = (charter.members(coverage) if coverage else []) or owners
        call = ConnectorCall(
            action_id=action.action_id,
            action=name,
            customer=action.request.customer,
            params=action.request.params,
            effect=action.effect,
        )
        now = self.clock()
        if reversal.kind == "window" and reversal.window is not None:
            started = action.settled_at or now
            closes = started + reversal.window
            if now > closes:
                plan.refusal = f"{name}'s reversal window closed at {closes.isoformat(timespec='seconds')}{procedure}"
                return plan
        try:
            system = self.systems.system(name)
            if reversal.kind == "until" and reversal.until is not None and system.happened(reversal.until, call):
                meaning = system.until_events.get(reversal.until, reversal.until)
                plan.refusal = (
                    f"{name} was reversible until {reversal.until} ({meaning}), which has happened{procedure}"
                )
                return plan
            plan.expected = self.systems.connector(name).expected_after_undo(call)
        except SystemUnavailable:
            raise  # retried: whether the window closed is a fact, not a guess
        except CxgovError as err:
            plan.refusal = f"the system of record cannot confirm {name} is still reversible: {err}{procedure}"
            return plan
        plan.call = call
        return plan
