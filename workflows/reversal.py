"""The reversal workflow `reverse-<action id>`: a member of the reversal owner role undoes a completed action.

Refused requests fail the run (type ReversalRefused), so the refusal is on the record and a later, rightful
request can still run; a reversal that ran (reversed or reversal_failed) completes, and every later request
for the same action gets its result, never a second undo.
"""

from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from cxgov.errors import BadRequest
    from cxgov.identity.signing import decision_payload, verify
    from cxgov.notices import reversal_failed_notice
    from cxgov.policy.params import check_action_id, person_problem
    from cxgov.snapshots import describe_differences
    from cxgov.summaries import reversal_details
    from cxgov.wire import (
        CompensateResult,
        LoadedAction,
        ReversalCheckInput,
        ReversalPlan,
        ReversalRequest,
        ReversalState,
        Status,
        StepRecord,
    )
    from workflows.action import (
        CX_ACTION,
        CX_ACTOR,
        CX_CHARTER_VERSION,
        CX_CUSTOMER,
        CX_STATUS,
    )
    from workflows.notice import NOTIFY, tell

REFUSED = "refused"
CHECKED_REVERSALS = "checked-reversals"
"""Patch: a malformed reversal request (oversized person or reason, a bad action id) is refused unread."""
SIGNED_REVERSALS = "signed-reversals"
"""Patch: a reversal runs only with the front door's signature for the person it names."""


def reversal_id(action_id: str) -> str:
    """The one workflow id a reversal of `action_id` may have."""
    return f"reverse-{action_id}"


@workflow.defn(name="reversal")
class ReversalWorkflow:
    """Undo one completed action, then prove the system of record is back to its pre-action state."""

    @workflow.init
    def __init__(self, request: ReversalRequest) -> None:
        self._state = ReversalState(reversal_id=reversal_id(request.action_id), request=request)

    @workflow.run
    async def run(self, request: ReversalRequest) -> ReversalState:
        state = self._state
        malformed = _malformed(request, workflow_id=workflow.info().workflow_id)
        if malformed is not None and workflow.patched(CHECKED_REVERSALS):
            self._refuse(malformed)
        quick = timedelta(seconds=30)
        loaded: LoadedAction = await workflow.execute_activity(
            "load_action", request.action_id, result_type=LoadedAction, start_to_close_timeout=quick
        )
        if loaded.state is None:
            self._refuse(loaded.problem or f"no action {request.action_id}")
        action = loaded.state
        state.actor, state.action, state.customer = action.request.actor, action.request.action, action.request.customer
        workflow.set_current_details(reversal_details(state))
        workflow.upsert_search_attributes(
            [
                CX_ACTOR.value_set(request.person),
                CX_ACTION.value_set(action.request.action),
                CX_CUSTOMER.value_set(action.request.customer),
                CX_STATUS.value_set(Status.EXECUTING.value),
            ]
        )
        plan: ReversalPlan = await workflow.execute_activity(
            "authorize_reversal",
            ReversalCheckInput(request=request, action=action),
            result_type=ReversalPlan,
            start_to_close_timeout=quick,
        )
        state.procedure, state.owner_role, state.charter_version = plan.procedure, plan.owner_role, plan.charter_version
        if plan.charter_version is not None:
            workflow.upsert_search_attributes([CX_CHARTER_VERSION.value_set(plan.charter_version)])
        if plan.refusal is not None or plan.call is None:
            self._refuse(plan.refusal or "nothing to reverse")
        if workflow.patched(SIGNED_REVERSALS):
            payload = decision_payload(
                verdict="reverse", action_id=request.action_id, person=request.person, reason=request.reason, digest=""
            )
            unsigned = verify(request.assertion, payload, principal=request.person, trusted=plan.trusted_keys)
            if unsigned is not None:
                self._refuse(f"the reversal in the name of {request.person} is refused: {unsigned}")

        step_timeout = timedelta(seconds=plan.step_timeout_seconds)
        try:
            undone: CompensateResult = await workflow.execute_activity(
                "compensate_action",
                plan.call,
                result_type=CompensateResult,
                start_to_close_timeout=step_timeout,
                retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["ConnectorRefused"]),
            )
        except ActivityError as err:
            self._step("compensate", False, _cause(err))
            return await self._fail(f"compensate failed: {_cause(err)}", plan)
        self._step("compensate", True, undone.summary)
        after: dict[str, object] = await workflow.execute_activity(
            "snapshot_action", plan.call, result_type=dict, start_to_close_timeout=step_timeout
        )
        # Against the state the undo must leave: the pre-action one, but for later changes by others to the
        # same entities (plans recorded before `expected` existed compare with the pre-action snapshot).
        expected = plan.expected if plan.expected is not None else action.snapshot
        differs = describe_differences(expected, after) if expected is not None else ""
        if differs:
            self._step("verify", False, f"not back to the pre-action state: {differs}")
            return await self._fail(f"the system of record is not back to its pre-action state: {differs}", plan)
        later = describe_differences(action.snapshot, after) if action.snapshot is not None else ""
        summary = "the system of record is back to its pre-action state"
        self._step("verify", True, f"{summary}, apart from later changes by others: {later}" if later else summary)
        return self._settle(Status.REVERSED)

    def _refuse(self, refusal: str) -> NoReturn:
        self._state.refusal = refusal
        self._state.settled_at = workflow.now()
        workflow.set_current_details(reversal_details(self._state))
        workflow.upsert_search_attributes([CX_STATUS.value_set(REFUSED)])
        raise ApplicationError(refusal, self._state, type="ReversalRefused", non_retryable=True)

    async def _fail(self, error: str, plan: ReversalPlan) -> ReversalState:
        self._state.error = error
        self._state.escalated_to = list(plan.escalate_to)
        settled = self._settle(Status.REVERSAL_FAILED)
        if workflow.patched(NOTIFY):
            await tell(reversal_failed_notice(settled))  # the owners must finish it by hand
        return settled

    def _settle(self, status: Status) -> ReversalState:
        self._state.status = status
        self._state.settled_at = workflow.now()
        workflow.set_current_details(reversal_details(self._state))
        workflow.upsert_search_attributes([CX_STATUS.value_set(status.value)])
        return self._state

    def _step(self, step: str, ok: bool, summary: str) -> None:
        kind = "compensate" if step == "compensate" else "verify"
        self._state.steps.append(StepRecord(step=kind, ok=ok, summary=summary, at=workflow.now()))

    @workflow.query
    def state(self) -> ReversalState:
        """The reversal as it stands."""
        return self._state


def _malformed(request: ReversalRequest, *, workflow_id: str) -> str | None:
    try:
        check_action_id(request.action_id)
    except BadRequest as err:
        return err.message
    if workflow_id != reversal_id(request.action_id):
        return f"a reversal of {request.action_id} runs as {reversal_id(request.action_id)}, not {workflow_id[:80]}"
    return person_problem(request.person, request.reason)


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
