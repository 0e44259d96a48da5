"""The action workflow: authorize -> [approval ladder] -> execute -> verify, with saga compensation.

Workflow id `action-<uuid>`. Its history is the audit trail of the action: the decision, every approval
attempt (granted or refused), every connector step and compensation.
"""

import asyncio
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from cxgov.identity.signing import decision_payload, freeze_payload, verify
    from cxgov.notices import approval_notice, compensation_failed_notice, expired_notice
    from cxgov.notify.models import Notice
    from cxgov.policy.params import person_problem, request_problem
    from cxgov.summaries import action_details, action_summary
    from cxgov.wire import (
        ActionRequest,
        ActionState,
        ApprovalInput,
        ApprovalPhase,
        ApprovalPlan,
        ApprovalRecord,
        ApprovalResult,
        AuthorizeInput,
        AuthorizeResult,
        CompensateResult,
        ConnectorCall,
        Decision,
        EffectResult,
        FreezeOrder,
        FreezeResult,
        Outcome,
        PendingApproval,
        Status,
        StepRecord,
        VerifyResult,
    )
    from workflows.notice import NOTIFY, tell

CX_ACTOR = SearchAttributeKey.for_keyword("CxActor")
CX_ACTION = SearchAttributeKey.for_keyword("CxAction")
CX_CUSTOMER = SearchAttributeKey.for_keyword("CxCustomer")
CX_STATUS = SearchAttributeKey.for_keyword("CxStatus")
CX_AMOUNT = SearchAttributeKey.for_float("CxAmount")
CX_CHANNEL = SearchAttributeKey.for_keyword("CxChannel")
CX_CHARTER_VERSION = SearchAttributeKey.for_int("CxCharterVersion")
SEARCH_ATTRIBUTE_KEYS = (CX_ACTOR, CX_ACTION, CX_CUSTOMER, CX_STATUS, CX_AMOUNT, CX_CHANNEL, CX_CHARTER_VERSION)
"""Every search attribute cxgov's workflows upsert (`cxgov.settings.SEARCH_ATTRIBUTES` names them for the server)."""

DIGEST_CHARS = 64
RELEASES_BUDGET = frozenset({Status.DENIED, Status.EXPIRED, Status.COMPENSATED, Status.FAILED})
"""Ends without the action's effect: its budget share is given back."""
REFUSED = "ConnectorRefused"
"""The error type of a business refusal by the system of record (see activities.connector)."""
CHECKED_REQUESTS = "checked-requests"
"""Patch: a malformed request (an oversized field, an action id other than the workflow id) is denied unread."""
SIGNED_DECISIONS = "signed-decisions"
"""Patch: an approve or deny counts only with the front door's signature for the person it names."""
REFUSAL_DENIES = "execute-refusal-denies"
"""Patch: a refusal at execute (a precondition found false, nothing changed) ends the action denied."""
PATCHES_AT_START = "patches-at-start"
"""Patch: NOTIFY and REFUSAL_DENIES are decided once, in the first activation, not where they first apply.

A patch marker is only seen on replay within its own workflow task, and the task that runs the code after the
authorize local activity is not fixed: when the worker completes the first task with only the local activity's
marker (it does under load), the original run decides the patch in the second task and a replay in the first,
and the replay fails as nondeterministic. The first activation is always the first task."""
FREEZES = "freezes"
"""Patch (decided at start): an approved action reads the kill switch again before it executes."""
ONE_PATCH = "one-patch"
"""Patch (decided at start): stands for every patch above, so that a run records one patch marker, not three to five.
It also brings one change of its own: when the system of record cannot be read after an approval (the fresh
snapshot before execute), the action ends denied with nothing changed, instead of its workflow failing with the
action `executing`. A patch added after this one is decided on its own.

Each patch a run decides costs a marker and an upsert of the `TemporalChangeVersion` search attribute (the SDK adds
one per patch): two commands and two history events per patch, and a visibility write on the server, for nothing
the action's governance needs. Runs started before it replay through the individual patches, as recorded."""


def identity_attributes(request: ActionRequest) -> TypedSearchAttributes:
    """The search attributes an action carries from its start (the client sets them; the workflow too)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CX_ACTOR, request.actor),
            SearchAttributePair(CX_ACTION, request.action),
            SearchAttributePair(CX_CUSTOMER, request.customer),
            SearchAttributePair(CX_CHANNEL, request.channel),
            SearchAttributePair(CX_STATUS, Status.AUTHORIZING.value),
        ]
    )


@workflow.defn(name="action")
class ActionWorkflow:
    """One governed customer action."""

    @workflow.init
    def __init__(self, request: ActionRequest) -> None:
        self._state = ActionState(action_id=request.action_id, status=Status.AUTHORIZING, request=request)
        self._plan: ApprovalPlan | None = None
        self._phase = -1
        self._eligible: list[str] = []
        self._verdict: ApprovalRecord | None = None
        self._pending_attributes: list[SearchAttributeUpdate[Any]] = []
        self._budget_reserved = False
        self._trusted: dict[str, str] = {}
        self._summary = ""
        self._one_patch = False
        self._patched_at_start = False
        self._checks_freezes = False
        self._frozen: FreezeOrder | None = None

    @workflow.run
    async def run(self, request: ActionRequest) -> ActionState:
        self._one_patch = workflow.patched(ONE_PATCH)
        self._patched_at_start = self._one_patch or workflow.patched(PATCHES_AT_START)
        self._checks_freezes = self._one_patch or workflow.patched(FREEZES)
        malformed = request_problem(request, workflow_id=workflow.info().workflow_id)
        if malformed is not None and (self._one_patch or workflow.patched(CHECKED_REQUESTS)):
            # Checked here too, not only by clients: whoever started it, nothing oversized reaches search
            # attributes, activities or the archive, and nothing skips authorize's checks by being malformed.
            self._state.decision = Decision(outcome=Outcome.DENY, rule="2-bad-request", reasons=[malformed])
            return await self._finish(Status.DENIED)
        if workflow.info().typed_search_attributes.get(CX_ACTOR) is None:  # started without cxgov's client
            workflow.upsert_search_attributes(
                [pair.key.value_set(pair.value) for pair in identity_attributes(request).search_attributes]
            )
        # Read-only steps (authorize, snapshot, verify) run as local activities: each result is recorded in the
        # history as a marker, without a server round trip per step. Execute must stay a regular activity: its
        # schedule command completes the workflow task that records the decision, so the decision is durable
        # before any effect. (Had execute been local too, a crash mid-task would re-decide after the effect.)
        auth: AuthorizeResult = await workflow.execute_local_activity(
            "authorize",
            AuthorizeInput(request=request),
            result_type=AuthorizeResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        state = self._state
        state.decision = auth.decision
        state.charter_version = auth.decision.charter_version
        state.digest = auth.digest
        state.actor_kind = auth.actor_kind
        self._budget_reserved = auth.budget_reserved
        self._trusted = auth.trusted_keys
        self._summary = action_summary(request, amount=auth.amount, currency=auth.currency)
        # Charter version and amount go out with the next status change: one upsert, not two.
        if auth.decision.charter_version is not None:
            self._pending_attributes.append(CX_CHARTER_VERSION.value_set(auth.decision.charter_version))
        if auth.amount is not None:
            self._pending_attributes.append(CX_AMOUNT.value_set(float(auth.amount)))

        if auth.decision.outcome == Outcome.DENY:
            return await self._finish(Status.DENIED)
        if auth.decision.outcome == Outcome.ESCALATE:
            if auth.approval is None:
                raise ApplicationError("escalated decision without an approval plan", type="PolicyError")
            verdict = await self._ladder(auth.approval)
            if self._frozen is not None:
                order = self._frozen
                return await self._deny_frozen(
                    f"{_scope_shown(order.scope)} frozen by {order.person} while this waited for approval: "
                    f"{order.reason}"
                )
            if verdict is None:
                state.error = "no approval on any ladder step before its timeout; on_timeout: deny"
                await self._tell(expired_notice(state, summary=self._summary, owner=auth.requester_owner))
                return await self._finish(Status.EXPIRED)
            if verdict.verdict == "deny":
                return await self._finish(Status.DENIED)
            if self._checks_freezes:
                frozen: Decision | None = await workflow.execute_local_activity(
                    "frozen",
                    request,
                    result_type=Decision | None,  # type: ignore[arg-type]
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                )
                if frozen is not None:
                    state.decision = frozen
                    return await self._finish(Status.DENIED)
        return await self._execute(auth)

    async def _ladder(self, plan: ApprovalPlan) -> ApprovalRecord | None:
        """Wait on each phase in turn for a granted approve/deny; None when every phase timed out."""
        self._plan = plan
        timeout = timedelta(seconds=plan.step_timeout_seconds)
        self._set_status(Status.AWAITING_APPROVAL)
        for index, phase in enumerate(plan.phases):
            self._phase = index
            self._eligible = self._eligible_people(phase, plan)
            self._state.pending = self._pending(phase, deadline_in=timeout)
            workflow.set_current_details(action_details(self._state))
            await self._tell(approval_notice(self._state, self._state.pending, summary=self._summary))
            try:
                await workflow.wait_condition(
                    lambda: self._verdict is not None or self._frozen is not None, timeout=timeout
                )
            except TimeoutError:
                continue
            break
        self._state.pending = None
        self._phase = -1
        return self._verdict

    def _eligible_people(self, phase: ApprovalPhase, plan: ApprovalPlan) -> list[str]:
        requester = self._state.request.actor
        eligible = []
        for approver in phase.people:
            if approver.person == requester:
                continue
            if plan.amount is not None and (approver.approve_limit is None or plan.amount > approver.approve_limit):
                continue
            eligible.append(approver.person)
        return eligible

    def _pending(self, phase: ApprovalPhase, *, deadline_in: timedelta) -> PendingApproval:
        request = self._state.request
        assert self._plan is not None and self._state.digest is not None
        return PendingApproval(
            action_id=request.action_id,
            actor=request.actor,
            action=request.action,
            customer=request.customer,
            amount=self._plan.amount,
            digest=self._state.digest,
            phase=self._phase + 1,
            phases=len(self._plan.phases),
            role=phase.role,
            coverage_for=phase.coverage_for,
            eligible=list(self._eligible),
            deadline=workflow.now() + deadline_in,
            reason=request.reason,
        )

    async def _execute(self, auth: AuthorizeResult) -> ActionState:
        """Execute then verify; on failure after any effect, compensate (saga) and settle."""
        state = self._state
        # In-flight only for the milliseconds of execute and verify: not worth a visibility write; the charter
        # version and amount go out with the settled status.
        self._set_status(Status.EXECUTING, upsert=False)
        call = ConnectorCall(
            action_id=state.action_id,
            action=state.request.action,
            customer=state.request.customer,
            params=auth.params,
            preconditions=auth.preconditions,
            seal=auth.seal,
        )
        step_timeout = timedelta(seconds=auth.step_timeout_seconds)
        retry = RetryPolicy(maximum_attempts=5, non_retryable_error_types=[REFUSED])
        # The pre-action state, kept in the history: a reversal proves it restored exactly this. Authorize took
        # it for an allowed action; after an approval (minutes or hours later) it is taken afresh.
        state.snapshot = auth.snapshot if self._plan is None else None
        if state.snapshot is None:
            try:
                state.snapshot = await workflow.execute_local_activity(
                    "snapshot_action", call, result_type=dict, start_to_close_timeout=step_timeout, retry_policy=retry
                )
            except (ActivityError, ApplicationError) as err:  # a local activity's failure comes as its cause
                if not self._one_patch or is_cancelled_exception(err):  # one-patch brought this denial
                    raise
                # Before any effect: the system of record is down (or refuses the read) after the approval.
                # Nothing ran, so nothing is compensated; the decision-time rule for an outage applies.
                rule = "4-precondition" if _refused(err) else "4-system-of-record"
                return await self._deny_at_execute(f"{_cause(err)}; nothing was changed", rule=rule)
        # Compensation is registered before execute runs: execute may fail after its effect landed.
        try:
            effect: EffectResult = await workflow.execute_activity(
                "execute_action",
                call,
                result_type=EffectResult,
                start_to_close_timeout=step_timeout,
                retry_policy=retry,
            )
            self._step("execute", True, effect.summary)
            if effect.record:
                state.effect = effect.record
                call = call.model_copy(update={"effect": effect.record})
            verified: VerifyResult = await workflow.execute_local_activity(
                "verify_action", call, result_type=VerifyResult, start_to_close_timeout=step_timeout, retry_policy=retry
            )
            self._step("verify", verified.ok, verified.summary)
            if not verified.ok:
                raise ApplicationError(f"verify failed: {verified.summary}", type="VerifyFailed", non_retryable=True)
        except (ActivityError, ApplicationError, asyncio.CancelledError) as err:
            executed = any(step.step == "execute" for step in state.steps)
            if not executed and _refused(err) and self._applies(REFUSAL_DENIES):
                # The system of record refused the effect and changed nothing: the facts changed since the
                # decision (a slot filled up while the request waited). A denial with the fresh reason, not a failure.
                self._step("execute", False, _cause(err))
                return await self._deny_at_execute(_cause(err))
            if not executed:
                self._step("execute", False, _cause(err))
            status = await self._compensate(
                call,
                step_timeout,
                failure=_cause(err),
                owners=auth.reversal_owner_people,
                attempts=auth.compensation_attempts,
            )
            if status == Status.COMPENSATION_FAILED:
                owner_role = auth.reversal_owner
                await self._tell(compensation_failed_notice(state, summary=self._summary, owner_role=owner_role))
            if is_cancelled_exception(err):
                self._set_status(status)
                raise
            return await self._finish(status)
        return await self._finish(Status.COMPLETED)

    async def _deny_frozen(self, reason: str) -> ActionState:
        self._state.pending = None
        self._state.decision = Decision(
            outcome=Outcome.DENY, rule="0-frozen", reasons=[reason], charter_version=self._state.charter_version
        )
        return await self._finish(Status.DENIED)

    async def _deny_at_execute(self, reason: str, *, rule: str = "4-precondition") -> ActionState:
        state = self._state
        state.decision = Decision(
            outcome=Outcome.DENY,
            rule=rule,
            reasons=[f"at execute: {reason}"],
            charter_version=state.charter_version,
        )
        return await self._finish(Status.DENIED)

    async def _compensate(
        self, call: ConnectorCall, step_timeout: timedelta, *, failure: str, owners: list[str], attempts: int
    ) -> Status:
        state = self._state
        state.error = failure
        try:
            undone: CompensateResult = await workflow.execute_activity(
                "compensate_action",
                call,
                result_type=CompensateResult,
                start_to_close_timeout=step_timeout,
                # 1 s apart, doubling to 30 s: a system of record down for a moment is undone once it is back.
                retry_policy=RetryPolicy(maximum_attempts=attempts, maximum_interval=timedelta(seconds=30)),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as err:
            self._step("compensate", False, _cause(err))
            state.escalated_to = owners
            return Status.COMPENSATION_FAILED
        self._step("compensate", True, undone.summary)
        return Status.COMPENSATED if undone.undone else Status.FAILED

    async def _finish(self, status: Status) -> ActionState:
        if self._budget_reserved and status in RELEASES_BUDGET:
            await workflow.execute_local_activity(
                "release_budget", self._state.action_id, result_type=bool, start_to_close_timeout=timedelta(seconds=30)
            )
        self._set_status(status)
        self._state.settled_at = workflow.now()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _tell(self, notice: Notice) -> None:
        """Start telling people (approval requested, escalated, expired, compensation failed), without waiting
        for delivery: a notification never holds up the action."""
        if self._applies(NOTIFY):
            await tell(notice)

    def _applies(self, patch: str) -> bool:
        """Whether this run has `patch` (see PATCHES_AT_START: runs started before it decide where they use it)."""
        return self._patched_at_start or workflow.patched(patch)

    def _set_status(self, status: Status, *, upsert: bool = True) -> None:
        self._state.status = status
        # Temporal's user metadata: what the UI shows for this action (not in the history, no command).
        workflow.set_current_details(action_details(self._state))
        if upsert:
            workflow.upsert_search_attributes([*self._pending_attributes, CX_STATUS.value_set(status.value)])
            self._pending_attributes = []

    def _step(self, step: Literal["execute", "verify", "compensate"], ok: bool, summary: str) -> None:
        self._state.steps.append(StepRecord(step=step, ok=ok, summary=summary, at=workflow.now()))

    @workflow.query
    def state(self) -> ActionState:
        """The action as it stands, including the pending approval if any."""
        return self._state

    @workflow.query
    def pending(self) -> PendingApproval | None:
        """The pending approval: ladder phase, eligible people, deadline; None when not awaiting one."""
        return self._state.pending

    @workflow.update
    def approve(self, attempt: ApprovalInput) -> ApprovalResult:
        """A person approves. Every attempt is recorded; authority is checked here, not in the validator."""
        return self._attempt("approve", attempt)

    @approve.validator
    def _validate_approve(self, attempt: ApprovalInput) -> None:
        _well_formed(attempt)

    @workflow.update
    def deny(self, attempt: ApprovalInput) -> ApprovalResult:
        """A person denies. Every attempt is recorded; authority is checked here, not in the validator."""
        return self._attempt("deny", attempt)

    @deny.validator
    def _validate_deny(self, attempt: ApprovalInput) -> None:
        _well_formed(attempt)

    @workflow.update
    def freeze(self, order: FreezeOrder) -> FreezeResult:
        """The kill switch: a freeze of this action's scope ends its wait for approval, denied (0-frozen)."""
        refusal = self._freeze_refusal(order)
        if refusal is None:
            self._frozen = order
        status = Status.DENIED if refusal is None else self._state.status
        return FreezeResult(applied=refusal is None, refusal=refusal, status=status)

    @freeze.validator
    def _validate_freeze(self, order: FreezeOrder) -> None:
        problem = person_problem(order.person, order.reason)
        if problem is not None:
            raise ValueError(problem)

    def _freeze_refusal(self, order: FreezeOrder) -> str | None:
        state = self._state
        if state.status != Status.AWAITING_APPROVAL or self._verdict is not None or self._frozen is not None:
            return f"action {state.action_id} is {state.status.value}, not awaiting approval"
        kind, _, name = order.scope.partition(":")
        covered = order.scope == "all" or name == (state.request.actor if kind == "actor" else state.request.action)
        if not covered:
            return f"the freeze of {_scope_shown(order.scope)} does not cover {state.action_id}"
        payload = freeze_payload(action_id=state.action_id, scope=order.scope, person=order.person, reason=order.reason)
        unsigned = verify(order.assertion, payload, principal=order.person, trusted=self._trusted)
        return None if unsigned is None else f"the freeze in the name of {order.person} is refused: {unsigned}"

    def _attempt(self, verdict: Literal["approve", "deny"], attempt: ApprovalInput) -> ApprovalResult:
        refusal = self._refusal(verdict, attempt)
        phase = self._plan.phases[self._phase] if self._plan is not None and self._phase >= 0 else None
        record = ApprovalRecord(
            verdict=verdict,
            person=attempt.person,
            reason=attempt.reason,
            at=workflow.now(),
            accepted=refusal is None,
            refusal=refusal,
            role=phase.role if phase is not None else None,
            phase=self._phase + 1 if phase is not None else None,
        )
        self._state.approvals.append(record)
        status = self._state.status
        if refusal is None:
            self._verdict = record
            status = Status.EXECUTING if verdict == "approve" else Status.DENIED
        return ApprovalResult(accepted=refusal is None, refusal=refusal, status=status, record=record)

    def _refusal(self, verdict: str, attempt: ApprovalInput) -> str | None:
        state = self._state
        waiting = state.status == Status.AWAITING_APPROVAL and self._verdict is None and self._frozen is None
        if not waiting or self._plan is None or self._phase < 0:
            return f"action {state.action_id} is {state.status.value}, not awaiting approval"
        phase = self._plan.phases[self._phase]
        people = {approver.person: approver for approver in phase.people}
        if attempt.person == state.request.actor:
            return f"{attempt.person} requested this action; no one approves or denies their own request"
        if attempt.person not in people:
            who = ", ".join(self._eligible) or "nobody"
            return (
                f"{attempt.person} is not on ladder step {self._phase + 1} (role {phase.role}); "
                f"who may decide now: {who}"
            )
        if self._one_patch or workflow.patched(SIGNED_DECISIONS):
            payload = decision_payload(
                verdict=verdict,
                action_id=state.action_id,
                person=attempt.person,
                reason=attempt.reason,
                digest=attempt.digest,
            )
            unsigned = verify(attempt.assertion, payload, principal=attempt.person, trusted=self._trusted)
            if unsigned is not None:
                return f"the {verdict} in the name of {attempt.person} is refused: {unsigned}"
        if attempt.digest != state.digest:
            return (
                f"the {verdict} names digest {attempt.digest[:12]}, but this action's digest is "
                f"{(state.digest or '')[:12]}: it is not the action that was reviewed"
            )
        limit = people[attempt.person].approve_limit
        amount = self._plan.amount
        if verdict == "approve" and amount is not None and (limit is None or amount > limit):
            shown = "no approve_limit" if limit is None else f"approve_limit {limit}"
            return f"amount {amount} is above {attempt.person}'s {shown}"
        return None


def _scope_shown(scope: str) -> str:
    return "every actor and action" if scope == "all" else scope.replace(":", " ", 1)


def _well_formed(attempt: ApprovalInput) -> None:
    problem = person_problem(attempt.person, attempt.reason)
    if problem is not None:
        raise ValueError(problem)
    if len(attempt.digest) != DIGEST_CHARS or any(char not in "0123456789abcdef" for char in attempt.digest):
        raise ValueError("digest is not a sha256 in hex (64 characters)")


def _refused(err: BaseException) -> bool:
    """Whether an execute failure is the system of record's refusal (nothing changed), not a crash or outage."""
    cause = err.__cause__ if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type == REFUSED


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
