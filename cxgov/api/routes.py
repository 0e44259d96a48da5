"""The endpoints of DESIGN "HTTP API", answering with the CLI's `--json` shapes."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

from cxgov.api.app import Gate, error
from cxgov.audit.export import export_records
from cxgov.audit.store import AuditArchive
from cxgov.client import prepare_request
from cxgov.errors import Denied, NotFound
from cxgov.identity import Principal
from cxgov.mcp.grants import PrincipalGrants, principal_grants
from cxgov.policy.params import check_action_id
from cxgov.shapes import action_json, decision_json, reversal_json
from cxgov.wire import ActionState, ApprovalResult, Status

router = APIRouter()
MAX_WAIT = 300.0
PROBE_TIMEOUT = timedelta(seconds=3)
EXPORT_THREAD = "cxgov-audit-export"
STILL_RUNNING = frozenset({Status.AUTHORIZING, Status.EXECUTING, Status.AWAITING_APPROVAL})


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


async def caller(request: Request) -> Principal:
    """The principal proven by the request's bearer credential (401 otherwise)."""
    return await gate_of(request).principal(request)


GateDep = Annotated[Gate, Depends(gate_of)]
CallerDep = Annotated[Principal, Depends(caller)]


def person(principal: Principal, what: str, *, named: str | None = None) -> str:
    """The calling person's name; an actor key, or a request naming someone else, is refused (403)."""
    if principal.kind != "person":
        raise Denied(f"{what} is for people; {principal.name} calls with an actor key")
    if named is not None and named != principal.name:
        raise Denied(f"the caller is {principal.name}: a request cannot be made as {named}")
    return principal.name


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionBody(Body):
    action: str = Field(max_length=100)
    customer: str = Field(max_length=100)
    channel: str = Field(max_length=100)
    reason: str = Field(max_length=2000)
    params: dict[str, Any] = Field(default_factory=dict)
    action_id: str | None = Field(default=None, max_length=107)
    wait: float = Field(default=30.0, ge=0, le=MAX_WAIT)
    actor: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller: the actor is the credential's principal."""


class DecisionBody(Body):
    reason: str = Field(max_length=2000)
    digest: str | None = Field(default=None, max_length=64)
    wait: float = Field(default=30.0, ge=0, le=MAX_WAIT)
    person: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller (the CLI's `--as`): a request naming anyone else is refused."""


class ReverseBody(Body):
    reason: str = Field(max_length=2000)
    person: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller."""


@router.get("/healthz", tags=["health"])
async def healthz(gate: GateDep) -> dict[str, Any]:
    """Whether Temporal answers and a worker polls the task queue (no credential needed)."""
    client = gate.client.client
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=PROBE_TIMEOUT)
        temporal = True
    except Exception:
        return {"ok": False, "temporal": False, "worker": False}
    try:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=gate.client.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=PROBE_TIMEOUT,
        )
        worker = len(described.pollers) > 0
    except Exception:
        worker = False
    return {"ok": temporal and worker, "temporal": temporal, "worker": worker}


@router.post("/v1/actions", tags=["actions"], responses={202: {"description": "still running or awaiting approval"}})
async def start_action(body: ActionBody, gate: GateDep, principal: CallerDep) -> JSONResponse:
    """Take a governed action as the caller (an actor key, or a person key for a human agent).

    200 once settled (completed, denied, expired, compensated, ...), 202 while running or awaiting approval.
    """
    if body.actor is not None and body.actor != principal.name:
        raise Denied(f"the caller is {principal.name}: a request cannot name another actor ({body.actor})")
    request = prepare_request(
        charters=gate.charters,
        actor=principal.name,
        action=body.action,
        customer=body.customer,
        channel=body.channel,
        reason=body.reason,
        params=body.params,
        action_id=body.action_id,
    )
    state = await gate.client.act(request, wait=body.wait)
    return JSONResponse(action_json(state), status_code=202 if state.status in STILL_RUNNING else 200)


@router.get("/v1/actions/{action_id}", tags=["actions"])
async def action_status(action_id: str, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """The action: status, decision, approvals, steps, reversal. An actor sees only its own actions."""
    state = await _visible(gate, principal, action_id)
    return action_json(state, full=True)


@router.get("/v1/approvals", tags=["approvals"])
async def approvals(
    gate: GateDep,
    principal: CallerDep,
    all: bool = False,
    person_: Annotated[str | None, Query(alias="person", max_length=100)] = None,
) -> dict[str, Any]:
    """Pending approvals the calling person may decide now (`all=true`: the whole queue, for people).

    `unreadable` names the actions awaiting approval that did not answer in time (a busy or stopped worker):
    they may be waiting for this person too."""
    name = person(principal, "deciding approvals", named=person_)
    queue = await gate.client.pending(person=None if all else name)
    return {"pending": [item.model_dump(mode="json") for item in queue.items], "unreadable": queue.unreadable}


@router.post("/v1/actions/{action_id}/approve", tags=["approvals"])
async def approve(action_id: str, body: DecisionBody, gate: GateDep, principal: CallerDep) -> JSONResponse:
    """Approve as the calling person: 200 with the result, 403 refused (the refusal is in the action's history)."""
    return await _decide(gate, principal, action_id, "approve", body)


@router.post("/v1/actions/{action_id}/deny", tags=["approvals"])
async def deny(action_id: str, body: DecisionBody, gate: GateDep, principal: CallerDep) -> JSONResponse:
    """Deny as the calling person: 200 with the result, 403 refused (the refusal is in the action's history)."""
    return await _decide(gate, principal, action_id, "deny", body)


@router.post("/v1/actions/{action_id}/reverse", tags=["reversals"])
async def reverse(action_id: str, body: ReverseBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Undo a completed action as the calling person (a member of its reversal owner role); 403 refused."""
    name = person(principal, "reversing an action", named=body.person)
    check_action_id(action_id)
    state = await gate.client.reverse(action_id, person=name, reason=body.reason)
    return reversal_json(action_id, state)


@router.get("/v1/audit", tags=["audit"])
async def audit(
    gate: GateDep,
    principal: CallerDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    customer: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    """The audit trail, streamed as JSON Lines or CSV (people only)."""
    from cxgov.commands.common import filter_text, moment

    person(principal, "reading the audit trail")
    actor, customer, action, status = (
        filter_text(value, option=name)
        for name, value in (("actor", actor), ("customer", customer), ("action", action), ("status", status))
    )
    now = datetime.now(UTC)
    start, end = moment(since, option="since", now=now), moment(until, option="until", now=now)
    archive = AuditArchive(gate.settings.audit_url)
    records = archive.query(actor=actor, customer=customer, action=action, status=status, since=start, until=end)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(_streamed(archive, records, "csv" if format == "csv" else "json"), media_type=media)


@router.get("/v1/drills", tags=["drills"])
async def drills(gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Per reversible action: cadence, last run and result, last pass, next run, overdue, who signed the last
    pass and when (people only)."""
    from cxgov.commands.drills import drill_rows
    from cxgov.drills.ledger import DrillLedger
    from cxgov.drills.signatures import DrillSignatures
    from cxgov.schedules import next_drill_runs

    person(principal, "reviewing drills")
    charter = gate.charters.get()
    next_runs = await next_drill_runs(gate.client.client, charter)

    def rows() -> list[dict[str, Any]]:
        ledger = DrillLedger(gate.settings.audit_url)
        signatures = DrillSignatures(gate.settings.audit_url)
        try:
            return drill_rows(charter, ledger, now=datetime.now(UTC), next_runs=next_runs, signatures=signatures)
        finally:
            signatures.close()
            ledger.close()

    return {"drills": jsonable_encoder(await asyncio.to_thread(rows))}


@router.post("/v1/drills/{action}/run", tags=["drills"])
async def run_drill(action: str, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Run one reversal drill now and answer with its result (`passed` false when it failed; people only)."""
    person(principal, "running drills")
    charter = gate.charters.get()
    if action not in charter.drilled_actions():
        known = ", ".join(charter.drilled_actions())
        raise NotFound(f"{action!r} is not a reversible action of charter v{charter.version} (drilled: {known})")
    result = await gate.client.run_drill(action)
    return result.model_dump(mode="json")


class DrillSignatureBody(Body):
    reason: str = Field(max_length=2000)
    """What the signer checked; required."""
    person: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller (the CLI's `--as`)."""


@router.post("/v1/drills/{action}/signatures", tags=["drills"])
async def sign_drill(action: str, body: DrillSignatureBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Sign the latest passing drill of `action` as the calling person, an active member of its reversal owner
    role (403 otherwise, and for actor keys); 404 when the action is not reversible; 403 when no drill passed.
    Signing the same drill again answers the first signature."""
    from cxgov.drills.ledger import DrillLedger
    from cxgov.drills.signatures import DrillSignatures

    name = person(principal, "signing a drill", named=body.person)
    loaded = gate.charters.loaded()

    def sign() -> dict[str, Any]:
        ledger = DrillLedger(gate.settings.audit_url)
        signatures = DrillSignatures(gate.settings.audit_url)
        try:
            signed = signatures.sign(
                charter=loaded.charter,
                ledger=ledger,
                action=action,
                person=name,
                via=principal.via,
                reason=body.reason,
                now=datetime.now(UTC),
                charter_sha256=loaded.sha256,
            )
        finally:
            signatures.close()
            ledger.close()
        return signed.model_dump(mode="json")

    return await asyncio.to_thread(sign)


@router.get("/v1/questions", tags=["governance"])
async def questions(
    gate: GateDep, principal: CallerDep, actor: Annotated[str | None, Query(max_length=100)] = None
) -> dict[str, Any]:
    """The three governance questions for every action of every actor, or of one (people only)."""
    from cxgov.commands.questions import interventions_of, signed_drills, sources
    from cxgov.questions import Trail, answer_questions

    person(principal, "reading the governance answers")
    charter = gate.charters.get()

    def answer() -> dict[str, Any]:
        with sources(gate.settings) as (archive, ledger), signed_drills(gate.settings) as signatures:
            found = answer_questions(
                charter,
                trail=Trail.of(gate.settings),
                ledger=ledger,
                archive=archive,
                now=datetime.now(UTC),
                actor=actor,
                signatures=signatures,
                freezes=interventions_of(gate.settings, archive)[0],
            )
        return found.model_dump(mode="json")

    return await asyncio.to_thread(answer)


@router.get("/v1/gaps", tags=["governance"])
async def gaps(gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """What is not governed or no longer proven: uncovered requests, charter gaps, drills, recertifications."""
    from cxgov.commands.questions import current_gaps

    person(principal, "reading the gaps")
    report = await current_gaps(gate.settings, gate.charters.get(), now=datetime.now(UTC), client=gate.client.client)
    return {**report.model_dump(mode="json"), "findings": report.findings}


async def _visible(gate: Gate, principal: Principal, action_id: str) -> ActionState:
    check_action_id(action_id)
    state = await gate.client.status(action_id)
    if principal.kind == "actor" and state.request.actor != principal.name:
        raise NotFound(f"no action {action_id}")  # another actor's action: not even its existence is told
    return state


async def decide_as(
    gate: Gate, principal: Principal, action_id: str, verdict: Literal["approve", "deny"], body: DecisionBody
) -> tuple[ApprovalResult, Status]:
    """Approve or deny as the calling person (signed by the server), then wait up to `body.wait` for the action
    to settle; the attempt's result and the action's status. The API and the console both decide through it."""
    name = person(principal, "deciding approvals", named=body.person)
    check_action_id(action_id)
    result = await gate.client.decide(action_id, verdict=verdict, person=name, reason=body.reason, digest=body.digest)
    status = result.status
    if result.accepted and body.wait > 0:
        status = (await gate.client.wait_settled(action_id, wait=body.wait)).status
    return result, status


async def _decide(
    gate: Gate, principal: Principal, action_id: str, verdict: Literal["approve", "deny"], body: DecisionBody
) -> JSONResponse:
    result, status = await decide_as(gate, principal, action_id, verdict, body)
    payload = decision_json(action_id, result, status)
    if not result.accepted:
        return error(403, result.refusal or "refused", 3, **payload)
    return JSONResponse(payload)


async def _streamed(archive: AuditArchive, records: Iterator[Any], fmt: Literal["json", "csv"]) -> AsyncIterator[str]:
    """Export in a thread into a bounded queue, so a large pull streams in constant memory; a client that goes
    away stops the export (and closes the archive) instead of leaving it blocked."""
    chunks: queue.Queue[str | None] = queue.Queue(maxsize=64)
    gone = threading.Event()

    class Out:
        def write(self, text: str) -> int:
            while not gone.is_set():
                try:
                    chunks.put(text, timeout=0.5)
                    return len(text)
                except queue.Full:
                    continue
            raise _ClientGone

    def run() -> None:
        try:
            export_records(records=records, format=fmt, out=Out())  # type: ignore[arg-type]
        except _ClientGone:
            pass
        finally:
            archive.close()
            while not gone.is_set():  # the end marker, once there is room for it
                with contextlib.suppress(queue.Full):
                    chunks.put(None, timeout=0.5)
                    break

    threading.Thread(target=run, name=EXPORT_THREAD, daemon=True).start()
    try:
        while True:
            try:
                chunk = await asyncio.to_thread(chunks.get, True, 0.5)
            except queue.Empty:
                continue
            if chunk is None:
                return
            yield chunk
    finally:
        gone.set()  # a client that hung up cancels this generator: the export stops at its next write


class _ClientGone(Exception):
    """The HTTP client stopped reading an audit stream."""


@router.get("/v1/me", tags=["identity"])
async def me(gate: GateDep, principal: CallerDep) -> PrincipalGrants:
    """Who the credential proves, and every action it holds a grant for with this principal's limits: the
    action's summary and declared params, whether it can be undone, max_amount, approve_above or
    require_approval with the ladder that approves above it, channels, segments, excluded SKUs and budget.
    The MCP server builds each agent's tools from it."""
    return principal_grants(gate.charters.get(), principal, today=datetime.now(UTC).date())


@router.get("/v1/diagram", tags=["governance"], responses={200: {"content": {"image/svg+xml": {}, "text/plain": {}}}})
async def diagram(gate: GateDep, principal: CallerDep, format: Literal["svg", "mermaid", "dot"] = "svg") -> Response:
    """The one-page governance diagram of the live charter (people only): SVG laid out by Graphviz, or Mermaid
    or DOT text. 503 when Graphviz is not installed (Mermaid still works)."""
    from cxgov.diagram import read_picture, render_svg, to_dot, to_mermaid

    person(principal, "reading the governance diagram")
    charter = gate.charters.get()

    def draw() -> str:
        picture = read_picture(charter, audit_url=gate.settings.audit_url, now=datetime.now(UTC))
        if format == "mermaid":
            return to_mermaid(picture)
        dot = to_dot(picture)
        return dot if format == "dot" else render_svg(dot)

    text = await asyncio.to_thread(draw)
    media = "image/svg+xml" if format == "svg" else "text/plain; charset=utf-8"
    return Response(text, media_type=media)
