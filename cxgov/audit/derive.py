"""Derive normalized audit records from a closed workflow's history, and from nothing else.

An action run gives one `action` record plus one `approval_refused` record per refused approval attempt;
a reversal run gives a `reversal` record, or a `reversal_refused` record when it was refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from cxgov.audit.tables import ArchivedRun, AuditRecordBase
from cxgov.wire import (
    ActionRequest,
    ActionState,
    ApprovalRecord,
    ApprovalResult,
    AuthorizeResult,
    Decision,
    DrillInput,
    DrillResult,
    ReversalRequest,
    ReversalState,
)

M = TypeVar("M", bound=BaseModel)
ARCHIVED_TYPES = ("action", "reversal", "drill")
LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""The marker the SDK records for a local activity; its `data` names the activity type, `result` holds the result."""
"""Workflow types whose closed runs are archived (drills join them with the drill workflow)."""


class HistoryError(ValueError):
    """A history that is not a closed run of an archived workflow type."""


def derive(history: WorkflowHistory, *, archived_at: datetime) -> tuple[ArchivedRun, list[AuditRecordBase]]:
    """The archived run (full history JSON) and its normalized records."""
    events = list(history.events)
    if not events or events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise HistoryError(f"{history.workflow_id}: history does not start with WorkflowExecutionStarted")
    started = events[0].workflow_execution_started_event_attributes
    workflow_type = started.workflow_type.name
    run_id = started.original_execution_run_id or history.run_id
    close = events[-1]
    if not _is_close(close):
        raise HistoryError(f"{history.workflow_id} run {run_id} is still open")
    closed_at = _time(close)
    run = ArchivedRun(
        run_id=run_id,
        workflow_id=history.workflow_id,
        workflow_type=workflow_type,
        closed_at=closed_at,
        archived_at=archived_at,
        history=json.dumps(history.to_json_dict(), separators=(",", ":")),
    )
    digest = hashlib.sha256(run.history.encode()).hexdigest()
    base = {"workflow_id": history.workflow_id, "run_id": run_id, "time": closed_at, "history_sha256": digest}
    if workflow_type == "action":
        return run, _action_records(events, close, base)
    if workflow_type == "reversal":
        return run, [_reversal_record(events, close, base)]
    if workflow_type == "drill":
        return run, [_drill_record(events, close, base)]
    raise HistoryError(f"{history.workflow_id}: workflow type {workflow_type!r} is not archived")


def _clip(text: str, limit: int) -> str:
    """A field as the archive can hold it: a malformed request's oversized name is cut, marked, never refused
    (its full text stays in the archived history)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _action_records(events: Sequence[HistoryEvent], close: HistoryEvent, base: dict[str, Any]) -> list[AuditRecordBase]:
    request = _decode(events[0].workflow_execution_started_event_attributes.input, ActionRequest)
    auth = _activity_result(events, "authorize", AuthorizeResult)
    approvals = [result.record for result in _update_results(events)]
    decision: Decision | None = auth.decision if auth is not None else None
    detail: dict[str, Any] = {}
    if close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        final = _decode(close.workflow_execution_completed_event_attributes.result, ActionState)
        status = final.status.value
        detail = {
            "steps": [step.model_dump(mode="json") for step in final.steps],
            "error": final.error,
            "escalated_to": final.escalated_to,
            "digest": final.digest,
        }
        if final.decision is not None and final.decision != decision:
            # Denied at execute (a precondition false by then), or unread (malformed, before authorize): the
            # record carries the decision that ended it.
            if decision is not None:
                detail["decided_first"] = decision.model_dump(mode="json")
            decision = final.decision
    else:
        status = "failed"
        detail = {"closed": _close_name(close), "error": _close_message(close)}
    record = AuditRecordBase(
        kind="action",
        source=base["run_id"],
        action_id=_clip(request.action_id, 200),
        actor=_clip(request.actor, 100),
        actor_kind=auth.actor_kind if auth is not None else None,
        customer=_clip(request.customer, 100),
        action=_clip(request.action, 100),
        params=_json({name: _plain(value) for name, value in request.params.items()}),
        channel=_clip(request.channel, 100),
        reason=request.reason,
        outcome=decision.outcome.value if decision else None,
        rule=decision.rule if decision else None,
        reasons=_json(decision.reasons if decision else []),
        gap=decision.gap if decision else False,
        charter_version=decision.charter_version if decision else None,
        charter_sha256=decision.charter_sha256 if decision else None,
        approvals=_json([approval.model_dump(mode="json") for approval in approvals]),
        status=status,
        detail=_json(detail),
        **base,
    )
    refused = [
        _refused_approval(request, approval, index, base, decision)
        for index, approval in enumerate(approval for approval in approvals if not approval.accepted)
    ]
    return [record, *refused]


def _refused_approval(
    request: ActionRequest, approval: ApprovalRecord, index: int, base: dict[str, Any], decision: Decision | None
) -> AuditRecordBase:
    return AuditRecordBase(
        kind="approval_refused",
        source=f"{base['run_id']}#{index + 1}",
        workflow_id=base["workflow_id"],
        run_id=base["run_id"],
        time=approval.at,
        action_id=_clip(request.action_id, 200),
        actor=_clip(approval.person, 100),
        actor_kind="person",
        customer=request.customer,
        action=request.action,
        params=_json({name: _plain(value) for name, value in request.params.items()}),
        channel=request.channel,
        reason=approval.reason,
        reasons=_json([approval.refusal or "refused"]),
        charter_version=decision.charter_version if decision else None,
        approvals=_json([approval.model_dump(mode="json")]),
        status="refused",
        detail=_json({"attempted": approval.verdict, "requested_by": request.actor, "phase": approval.phase}),
    )


def _reversal_record(events: Sequence[HistoryEvent], close: HistoryEvent, base: dict[str, Any]) -> AuditRecordBase:
    request = _decode(events[0].workflow_execution_started_event_attributes.input, ReversalRequest)
    state: ReversalState | None = None
    kind, status = "reversal", "failed"
    reasons: list[str] = []
    if close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        state = _decode(close.workflow_execution_completed_event_attributes.result, ReversalState)
        status = state.status.value
        reasons = [state.error] if state.error else []
    elif close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        failure = close.workflow_execution_failed_event_attributes.failure
        if failure.application_failure_info.type == "ReversalRefused":
            kind, status, reasons = "reversal_refused", "refused", [failure.message]
            details = failure.application_failure_info.details
            if details.payloads:
                state = _decode(details, ReversalState)
        else:
            reasons = [failure.message]
    else:
        reasons = [_close_message(close)]
    return AuditRecordBase(
        kind=kind,
        source=base["run_id"],
        action_id=_clip(request.action_id, 200),
        actor=_clip(request.person, 100),
        actor_kind="person",
        customer=state.customer if state else None,
        action=state.action if state else None,
        reason=request.reason,
        reasons=_json(reasons),
        charter_version=state.charter_version if state else None,
        status=status,
        reversal_of=_clip(request.action_id, 200),
        detail=_json(
            {
                "acted_by": state.actor if state else None,
                "steps": [step.model_dump(mode="json") for step in state.steps] if state else [],
                "escalated_to": state.escalated_to if state else [],
                "procedure": state.procedure if state else None,
            }
        ),
        **base,
    )


def _drill_record(events: Sequence[HistoryEvent], close: HistoryEvent, base: dict[str, Any]) -> AuditRecordBase:
    request = _decode(events[0].workflow_execution_started_event_attributes.input, DrillInput)
    if close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        result = _decode(close.workflow_execution_completed_event_attributes.result, DrillResult)
        status = "passed" if result.passed else "failed"
        reasons = [f"step {result.failing_step}: {result.reason}"] if not result.passed else []
        detail = {
            "steps": [step.model_dump(mode="json") for step in result.steps],
            "started": result.started.isoformat(),
            "failing_step": result.failing_step,
        }
        version = result.charter_version
    else:
        status, reasons, detail, version = "failed", [_close_message(close)], {"closed": _close_name(close)}, None
    return AuditRecordBase(
        kind="drill",
        source=base["run_id"],
        actor="cxgov-drill",
        actor_kind="automation",
        action=request.action,
        reasons=_json(reasons),
        charter_version=version,
        status=status,
        detail=_json(detail),
        **base,
    )


def _activity_result(events: Sequence[HistoryEvent], name: str, model: type[M]) -> M | None:
    """The result of the first completed activity `name`: a regular activity, or a local activity's marker."""
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER and _local_activity_type(marker.details) == name:
                result = marker.details.get("result")
                if result is not None and result.payloads:
                    return _decode(result, model)
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == name
    }
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attributes = event.activity_task_completed_event_attributes
            if attributes.scheduled_event_id in scheduled:
                return _decode(attributes.result, model)
    return None


def _local_activity_type(details: Any) -> str | None:
    data = details.get("data")
    if data is None or not data.payloads:
        return None
    try:
        kind = json.loads(data.payloads[0].data).get("activity_type")
    except (ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _update_results(events: Sequence[HistoryEvent]) -> list[ApprovalResult]:
    results = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            if outcome.HasField("success"):
                results.append(_decode(outcome.success, ApprovalResult))
    return results


_CLOSE_TYPES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}


def _is_close(event: HistoryEvent) -> bool:
    return event.event_type in _CLOSE_TYPES


def _close_name(event: HistoryEvent) -> str:
    return _CLOSE_TYPES.get(event.event_type, "closed")


def _close_message(event: HistoryEvent) -> str:
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        return str(event.workflow_execution_failed_event_attributes.failure.message)
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        return f"terminated: {event.workflow_execution_terminated_event_attributes.reason}"
    return _close_name(event)


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _decode(payloads: Payloads, model: type[M]) -> M:
    values = pydantic_data_converter.payload_converter.from_payloads(list(payloads.payloads), [model])
    value = values[0]
    if not isinstance(value, model):
        raise HistoryError(f"expected {model.__name__} in the history, found {type(value).__name__}")
    return value


def _plain(value: object) -> object:
    return str(value) if not isinstance(value, str | list) else value


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
