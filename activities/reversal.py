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
from cxgov.identity.signing import seal
from cxgov.policy.reversal import decide_reversal
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
        trusted_keys: dict[str, str] | None = None,
        seal_secret: bytes = b"",
    ) -> None:
        self.trusted_keys = dict(trusted_keys or {})
        self.seal_secret = seal_secret
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
        verdict = decide_reversal(charter, action=action, person=request.person, now=self.clock())
        plan = ReversalPlan(
            charter_version=charter.version,
            step_timeout_seconds=self.step_timeout_seconds,
            refusal=verdict.refusal,
            procedure=verdict.procedure,
            owner_role=verdict.owner_role,
            escalate_to=verdict.escalate_to,
            trusted_keys=self.trusted_keys,
        )
        if verdict.refusal is not None:
            return plan
        name = action.request.action
        call = ConnectorCall(
            action_id=action.action_id,
            action=name,
            customer=action.request.customer,
            params=action.request.params,
            effect=action.effect,
        )
        try:
            system = self.systems.system(name)
            until = verdict.until
            if until is not None and system.happened(until, call):
                meaning = system.until_events.get(until, until)
                plan.refusal = f"{name} was reversible until {until} ({meaning}), which has happened{verdict.suffix}"
                return plan
            plan.expected = self.systems.connector(name).expected_after_undo(call)
        except SystemUnavailable:
            raise  # retried: whether the window closed is a fact, not a guess
        except CxgovError as err:
            plan.refusal = f"the system of record cannot confirm {name} is still reversible: {err}{verdict.suffix}"
            return plan
        plan.call = call.model_copy(update={"seal": seal(self.seal_secret, call)})
        return plan
