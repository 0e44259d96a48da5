"""The typed cxgov client: start governed actions, read their state, decide approvals.

Used by the CLI, the demo and the tests. Every method raises a `CxgovError` for an expected problem.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace
from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from cxgov.charter import CharterCache
from cxgov.connection import connect
from cxgov.drills import drill_schedule_id
from cxgov.errors import BadRequest, CxgovError, Denied, NotFound, Unavailable
from cxgov.identity.signing import Signer, action_payload, decision_payload
from cxgov.policy import Screened, check_request_shape, screen
from cxgov.policy.params import check_action_id, check_param_values
from cxgov.settings import Settings
from cxgov.summaries import action_summary, drill_summary, request_amount, reversal_summary
from cxgov.wire import (
    SETTLED,
    ActionRequest,
    ActionState,
    ApprovalInput,
    ApprovalResult,
    Assertion,
    DrillInput,
    DrillResult,
    PendingApproval,
    ReversalRequest,
    ReversalState,
    Status,
)
from workflows.action import ActionWorkflow, identity_attributes
from workflows.drill import DrillWorkflow
from workflows.reversal import ReversalWorkflow, reversal_id


def new_action_id() -> str:
    return f"action-{uuid.uuid4()}"


def prepare_request(
    *,
    charters: CharterCache | None,
    actor: str,
    action: str,
    customer: str,
    channel: str,
    reason: str,
    params: dict[str, Any] | None = None,
    action_id: str | None = None,
) -> ActionRequest:
    """Build and check a request. Bad input (rule 2) is rejected here, before any workflow starts.

    Unknown actors and actions are not bad input: they start a workflow that records a denial with gap=true.

    Raises:
        BadRequest: malformed fields, or params that do not match the action's declaration.
    """
    check_request_shape(actor=actor, action=action, customer=customer, channel=channel, reason=reason)
    if action_id is not None:
        check_action_id(action_id)
    params = check_param_values(params or {})
    try:
        request = ActionRequest(
            action_id=action_id or new_action_id(),
            actor=actor,
            action=action,
            customer=customer,
            channel=channel,
            reason=reason,
            params=params,
        )
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"][:2])
        raise BadRequest(f"{where}: {first['msg']}", field=where) from None
    if charters is not None:
        try:
            charter = charters.get()
        except CxgovError:
            return request  # the worker denies with the charter's error: deny by default, on the record
        screened = screen(charter, request, today=datetime.now(UTC).date())
        if isinstance(screened, Screened):
            request.params = dict(screened.params)
    return request


UNREADABLE = object()
"""An action that did not answer its pending query in time."""


@dataclass(frozen=True)
class PendingQueue:
    """The approval queue: what waits and for whom, and the actions that could not be read now."""

    items: list[PendingApproval]
    unreadable: list[str]
    """Ids of actions awaiting approval whose workflow did not answer in time: shown, so nobody misses them."""


class CxgovClient:
    """What agents, approvers and ops do with cxgov, as typed calls."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        charter_path: Path | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.signer = signer
        """The front door's key: what this client starts and forwards carries its signature (the HTTP server's
        client, the embedded stack's tour, tests). Without it, workers refuse what it sends."""
        self._charters = CharterCache(charter_path) if charter_path is not None else None

    @classmethod
    async def connect(
        cls, settings: Settings, *, tracer: trace.Tracer | None = None, signer: Signer | None = None
    ) -> CxgovClient:
        client = await connect(settings, tracer=tracer)
        return cls(client, task_queue=settings.task_queue, charter_path=settings.charter_path, signer=signer)

    def sign(self, payload: dict[str, Any], *, principal: str) -> Assertion | None:
        if self.signer is None:
            return None
        return self.signer.sign(payload, principal=principal, at=datetime.now(UTC))

    def request(
        self,
        *,
        actor: str,
        action: str,
        customer: str,
        channel: str,
        reason: str,
        params: dict[str, Any] | None = None,
        action_id: str | None = None,
    ) -> ActionRequest:
        """Build and check a request against this client's charter (see `prepare_request`)."""
        return prepare_request(
            charters=self._charters,
            actor=actor,
            action=action,
            customer=customer,
            channel=channel,
            reason=reason,
            params=params,
            action_id=action_id,
        )

    async def start(self, request: ActionRequest) -> WorkflowHandle[ActionWorkflow, ActionState]:
        """Start the action workflow, signed for its actor; starting the same action id again joins the first."""
        if request.assertion is None:
            assertion = self.sign(action_payload(request), principal=request.actor)
            request = request.model_copy(update={"assertion": assertion})
        try:
            return await self.client.start_workflow(
                ActionWorkflow.run,
                request,
                id=request.action_id,
                task_queue=self.task_queue,
                search_attributes=identity_attributes(request),
                static_summary=self.summary(request),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            # The first run has closed (REJECT_DUPLICATE): the retry joins it and reads its result.
            return self.client.get_workflow_handle_for(ActionWorkflow.run, request.action_id)
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                return self.client.get_workflow_handle_for(ActionWorkflow.run, request.action_id)
            raise Unavailable(f"cannot start {request.action_id}: {err.message}") from None

    def summary(self, request: ActionRequest) -> str:
        """What the Temporal UI lists for this action: `support-bot refund 120 USD for C-100`."""
        if self._charters is None:
            return action_summary(request)
        charter = self._charters.get()
        action = charter.actions.get(request.action)
        amount = request_amount(request, action.amount_param if action is not None else None)
        return action_summary(request, amount=amount, currency=charter.currency)

    async def act(self, request: ActionRequest, *, wait: float = 30.0) -> ActionState:
        """Start the action and return once it is settled, or after `wait` seconds."""
        await self.start(request)
        return await self.wait_settled(request.action_id, wait=wait)

    async def wait_settled(self, action_id: str, *, wait: float) -> ActionState:
        """Poll until the action is settled (completed, denied, awaiting approval, ...) or `wait` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.02
        while True:
            state = await self._read(action_id, allow_unready=True)
            if (state is not None and state.status in SETTLED) or loop.time() >= deadline:
                if state is None:
                    raise await self._unready(action_id, wait=wait)
                return state
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 1.5, 0.25)

    async def _unready(self, action_id: str, *, wait: float) -> Unavailable:
        """Why a running action could not be read within `wait`: no worker took it yet, or the worker is busy."""
        handle = self.client.get_workflow_handle_for(ActionWorkflow.run, action_id)
        try:
            picked_up = (await handle.describe()).history_length > 2  # started, first task scheduled: nobody yet
        except RPCError:
            picked_up = False
        if picked_up:
            return Unavailable(
                f"{action_id} is running but did not answer within {wait:g}s (the worker is busy); it goes on: "
                f"check back with `cxgov status {action_id}` or GET /v1/actions/{action_id}"
            )
        return Unavailable(
            f"{action_id} was accepted but no worker has picked it up within {wait:g}s; is a worker polling "
            f"task queue {self.task_queue!r}? It runs once one does"
        )

    async def status(self, action_id: str) -> ActionState:
        """The action as it stands (statuses, decision, approvals, steps), `reversed` once a reversal ran."""
        state = await self._read(action_id, allow_unready=False)
        assert state is not None
        if state.status == Status.COMPLETED:
            reversal = await self._reversal_result(action_id)
            if reversal is not None:
                state.status = reversal.status
                state.reversal = reversal.reversal_id
        return state

    async def _reversal_result(self, action_id: str) -> ReversalState | None:
        reversal = await self.reversal_of(action_id)
        return reversal[0] if reversal is not None else None

    async def reversal_of(self, action_id: str) -> tuple[ReversalState | None, str | None] | None:
        """The latest reversal request for `action_id`: (its result once it ran, None) or (None, why it was
        refused); (None, None) while it runs; None when nobody asked."""
        handle = self.client.get_workflow_handle_for(ReversalWorkflow.run, reversal_id(action_id))
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"cannot read the reversal of {action_id}: {err.message}") from None
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result(), None
        if description.status == WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as err:
                cause = err.cause
                return None, str(getattr(cause, "message", None) or cause or err)
        return None, None

    async def reverse(self, action_id: str, *, person: str, reason: str) -> ReversalState:
        """Undo a completed action as `person`, a member of its reversal owner role.

        A second request for the same action gets the first reversal's result, never a second undo.

        Raises:
            Denied: refused (not an owner, irreversible, window passed, until-event happened, not completed),
                with the charter's procedure in the message. BadRequest: malformed input.
        """
        check_request_shape(actor=person, action="reverse", customer="-", channel="-", reason=reason)
        check_action_id(action_id)
        payload = decision_payload(verdict="reverse", action_id=action_id, person=person, reason=reason, digest="")
        request = ReversalRequest(
            action_id=action_id, person=person, reason=reason, assertion=self.sign(payload, principal=person)
        )
        workflow_id = reversal_id(action_id)
        try:
            handle = await self.client.start_workflow(
                ReversalWorkflow.run,
                request,
                id=workflow_id,
                task_queue=self.task_queue,
                static_summary=reversal_summary(action_id, person=person),
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            handle = self.client.get_workflow_handle_for(ReversalWorkflow.run, workflow_id)
        except RPCError as err:
            raise Unavailable(f"cannot start {workflow_id}: {err.message}") from None
        try:
            return await handle.result()
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "ReversalRefused":
                raise Denied(f"reversal refused: {cause.message}", rule="reversal") from None
            raise CxgovError(f"{workflow_id} failed: {cause or err}") from None

    async def _read(self, action_id: str, *, allow_unready: bool) -> ActionState | None:
        handle = self.client.get_workflow_handle_for(ActionWorkflow.run, action_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"no action {action_id}") from None
            raise Unavailable(f"cannot read {action_id}: {err.message}") from None
        if description.workflow_type != "action":
            raise NotFound(f"{action_id} is a {description.workflow_type} workflow, not an action")
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        try:
            return await handle.query(ActionWorkflow.state, rpc_timeout=timedelta(seconds=5))
        except (WorkflowQueryFailedError, RPCError) as err:
            if description.status == WorkflowExecutionStatus.RUNNING:
                if allow_unready:
                    return None
                raise Unavailable(f"{action_id} cannot be read now ({err}); is a worker running?") from None
        return await self._closed_abnormally(handle, description.status)

    async def _closed_abnormally(
        self, handle: WorkflowHandle[ActionWorkflow, ActionState], status: WorkflowExecutionStatus | None
    ) -> ActionState:
        try:
            await handle.result()
        except WorkflowFailureError as err:
            detail = str(err.cause) if err.cause else str(err)
        else:
            detail = "closed"
        raise CxgovError(f"{handle.id} ended {status.name.lower() if status else 'abnormally'}: {detail}")

    async def run_drill(self, action: str) -> DrillResult:
        """Run one reversal drill of `action` now and wait for its result."""
        return await self.client.execute_workflow(
            DrillWorkflow.run,
            DrillInput(action=action),
            id=f"{drill_schedule_id(action)}-run-{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue,
            static_summary=drill_summary(action),
        )

    async def pending(self, *, person: str | None = None) -> PendingQueue:
        """Pending approvals on this task queue, oldest deadline first; for `person`, those they may decide now.

        An action listed as awaiting approval that does not answer within 5 s (a busy or stopped worker) is named
        in `unreadable`, never left out silently: it may be waiting for this very person.
        """
        query = (
            f'WorkflowType = "action" AND ExecutionStatus = "Running" AND TaskQueue = "{self.task_queue}" '
            f'AND CxStatus = "{Status.AWAITING_APPROVAL}"'
        )
        ids = [execution.id async for execution in self.client.list_workflows(query)]
        answers = await asyncio.gather(*(self._pending_of(action_id) for action_id in ids))
        found = [
            item
            for item in answers
            if isinstance(item, PendingApproval) and (person is None or person in item.eligible)
        ]
        unreadable = [action_id for action_id, item in zip(ids, answers, strict=True) if item is UNREADABLE]
        return PendingQueue(items=sorted(found, key=lambda item: item.deadline), unreadable=sorted(unreadable))

    async def _pending_of(self, action_id: str) -> PendingApproval | object | None:
        """The action's pending approval; None once it no longer waits (decided meanwhile); UNREADABLE."""
        handle = self.client.get_workflow_handle_for(ActionWorkflow.run, action_id)
        try:
            return await handle.query(ActionWorkflow.pending, rpc_timeout=timedelta(seconds=5))
        except (WorkflowQueryFailedError, RPCError):
            return UNREADABLE

    async def decide(
        self,
        action_id: str,
        *,
        verdict: Literal["approve", "deny"],
        person: str,
        reason: str,
        digest: str | None = None,
    ) -> ApprovalResult:
        """Send an approve or deny as a workflow Update. A retry of the same attempt gets the first answer.

        Without `digest`, the digest of the currently pending approval is used (what `approvals` shows).

        Raises:
            NotFound: no such action. Denied: the action is not awaiting approval. BadRequest: malformed input.
        """
        if not person.strip() or len(person) > 100:
            raise BadRequest("--as names a person of the charter", field="person")
        check_request_shape(actor=person, action="approval", customer="-", channel="-", reason=reason)
        check_action_id(action_id)
        handle = self.client.get_workflow_handle_for(ActionWorkflow.run, action_id)
        state = await self.status(action_id)
        if state.status != Status.AWAITING_APPROVAL or state.digest is None or state.pending is None:
            # A retry of an attempt that already decided the action gets that first answer.
            for record in state.approvals:
                if record.accepted and (record.verdict, record.person, record.reason) == (verdict, person, reason):
                    status = Status.EXECUTING if verdict == "approve" else Status.DENIED
                    return ApprovalResult(accepted=True, status=status, record=record)
            raise Denied(f"action {action_id} is {state.status.value}, not awaiting approval")
        digest = digest or state.digest
        payload = decision_payload(verdict=verdict, action_id=action_id, person=person, reason=reason, digest=digest)
        attempt = ApprovalInput(
            person=person, reason=reason, digest=digest, assertion=self.sign(payload, principal=person)
        )
        # The id makes a retry of this attempt at this ladder step idempotent; the same words at a later step
        # are a new attempt (a person refused before their step may ask again once it starts).
        fingerprint = hashlib.sha256(f"{digest}\n{reason}".encode()).hexdigest()[:16]
        update_id = f"{verdict}-{person}-step{state.pending.phase}-{fingerprint}"
        update = ActionWorkflow.approve if verdict == "approve" else ActionWorkflow.deny
        try:
            return await handle.execute_update(update, attempt, id=update_id, rpc_timeout=timedelta(seconds=15))
        except WorkflowUpdateFailedError as err:
            raise BadRequest(f"{verdict} rejected: {err.cause or err}") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                state = await self.status(action_id)
                raise Denied(f"action {action_id} is {state.status.value}; there is nothing to {verdict}") from None
            raise Unavailable(f"cannot reach {action_id}: {err.message}") from None
