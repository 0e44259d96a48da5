"""The JSON shapes the CLI (`--json`) and the HTTP API share, one function per answer."""

from __future__ import annotations

from typing import Any

from cxgov.wire import ActionState, ApprovalResult, ReversalState, Status


def action_json(state: ActionState, *, full: bool = False) -> dict[str, Any]:
    """{"action_id", "status", "decision", "charter_version"} (+ pending, error, escalated_to); with `full`,
    the request, approvals, steps, digest and reversal too (`cxgov status`)."""
    decision = state.decision
    body: dict[str, Any] = {
        "action_id": state.action_id,
        "status": state.status.value,
        "decision": (
            {"outcome": decision.outcome.value, "rule": decision.rule, "reasons": decision.reasons, "gap": decision.gap}
            if decision is not None
            else None
        ),
        "charter_version": state.charter_version,
    }
    if state.pending is not None:
        body["pending"] = state.pending.model_dump(mode="json")
    if state.error:
        body["error"] = state.error
    if state.escalated_to:
        body["escalated_to"] = state.escalated_to
    if full:
        body["request"] = state.request.model_dump(mode="json")
        body["approvals"] = [record.model_dump(mode="json") for record in state.approvals]
        body["steps"] = [step.model_dump(mode="json") for step in state.steps]
        body["digest"] = state.digest
        body["charter_sha256"] = decision.charter_sha256 if decision is not None else None
        body["reversal"] = state.reversal
    return body


def decision_json(action_id: str, result: ApprovalResult, status: Status) -> dict[str, Any]:
    """What an approve or deny did: {"action_id", "accepted", "refusal", "status"}."""
    return {"action_id": action_id, "accepted": result.accepted, "refusal": result.refusal, "status": status.value}


def reversal_json(action_id: str, state: ReversalState) -> dict[str, Any]:
    """What a reversal did: {"action_id", "reversal_id", "status", "by", "steps", "error", "escalated_to"}."""
    return {
        "action_id": action_id,
        "reversal_id": state.reversal_id,
        "status": state.status.value,
        "by": state.request.person,
        "steps": [step.model_dump(mode="json") for step in state.steps],
        "error": state.error,
        "escalated_to": state.escalated_to,
    }
