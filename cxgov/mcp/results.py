"""Tool results: the action JSON exactly as the API answered it, and one sentence an agent can act on.

Done is a plain result. Denied, expired, compensated, compensation_failed and failed are error results: the
action did not happen (or was rolled back), and the sentence says why and that retrying it unchanged will not
help. Awaiting approval names the role, who may decide and until when, with the action id to check back with.
API errors (bad input, refused, not found, an unknown credential, cxgov unreachable) are error results naming
the problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mcp_types import CallToolResult, TextContent

from cxgov.mcp.door import ApiAnswer
from cxgov.wire import Status

FAILED_STATUSES = frozenset(
    {Status.DENIED, Status.EXPIRED, Status.COMPENSATED, Status.COMPENSATION_FAILED, Status.FAILED}
)
"""Statuses at which the action did not take effect (or was rolled back): error results."""


def result(text: str, structured: dict[str, Any], *, error: bool) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured, is_error=error)


def what_of(action: str, customer: str, params: dict[str, Any], *, amount_param: str | None, currency: str) -> str:
    """`refund of 40 USD for C-100`, or `change_address for C-100` for an action without money."""
    amount = params.get(amount_param) if amount_param is not None else None
    if amount is None or isinstance(amount, bool):
        return f"{action} for {customer}"
    try:
        shown = Decimal(str(amount))
    except InvalidOperation:
        return f"{action} for {customer}"
    plain = shown.quantize(Decimal(1)) if shown == shown.to_integral() else shown
    return f"{action} of {plain} {currency} for {customer}"


def action_result(payload: dict[str, Any], *, what: str) -> CallToolResult:
    """The result for an action JSON (`POST /v1/actions` or `GET /v1/actions/{id}`)."""
    status = Status(payload["status"])
    return result(sentence(payload, what=what), payload, error=status in FAILED_STATUSES)


def sentence(payload: dict[str, Any], *, what: str) -> str:
    """Where the action stands, in one sentence that says what to do next."""
    action_id = payload["action_id"]
    status = Status(payload["status"])
    decision = payload.get("decision") or {}
    error = payload.get("error")
    check_back = f'check back with wait_for_action(action_id="{action_id}")'
    if status == Status.COMPLETED:
        approved = _decided_by(payload, "approve")
        by = f", approved by {approved['person']}" if approved else ""
        return f"Done: {what} completed{by} (action {action_id})."
    if status == Status.AWAITING_APPROVAL:
        pending = payload.get("pending") or {}
        who = ", ".join(pending.get("eligible") or []) or "nobody eligible yet"
        covering = f" (covering for {pending['coverage_for']})" if pending.get("coverage_for") else ""
        why = f" (rule {decision['rule']}: {'; '.join(decision.get('reasons') or [])})" if decision else ""
        return (
            f"Waiting on approval from role {pending.get('role', '?')}{covering} ({who}) until "
            f"{_when(pending.get('deadline'))} for {what}{why}; {check_back}."
        )
    if status == Status.DENIED:
        refused = _decided_by(payload, "deny")
        if refused is not None:
            return (
                f"Denied by {refused['person']} ({refused.get('role') or 'approver'}) on the approval ladder: "
                f"{refused['reason']}. {_capital(what)} did not happen; do not retry it unchanged."
            )
        gap = " No grant covers it: a gap, reported to the charter's owners." if decision.get("gap") else ""
        return (
            f"Denied by rule {decision.get('rule', '?')}: {'; '.join(decision.get('reasons') or [])}. "
            f"{_capital(what)} did not happen; do not retry it unchanged.{gap}"
        )
    if status == Status.EXPIRED:
        return (
            f"Expired: nobody on the approval ladder decided in time ({error or 'on_timeout: deny'}); {what} did not "
            "happen. Do not retry it unchanged; hand it to a person."
        )
    if status == Status.COMPENSATED:
        return (
            f"Failed and rolled back: {what} went wrong after it started ({error or 'see the steps'}) and its effect "
            f"was undone; nothing changed for the customer (action {action_id})."
        )
    if status == Status.COMPENSATION_FAILED:
        people = ", ".join(payload.get("escalated_to") or []) or "nobody named"
        return (
            f"Failed and NOT rolled back: {what} went wrong ({error or 'see the steps'}) and undoing it failed too; "
            f"the reversal owners were alerted ({people}). Do not retry; tell the customer a person will follow up "
            f"(action {action_id})."
        )
    if status == Status.FAILED:
        return f"Failed: {what} did not complete ({error or 'see the steps'}); there is nothing to undo."
    if status == Status.REVERSED:
        return f"Reversed: {what} completed and was later undone ({payload.get('reversal') or 'a reversal'})."
    if status == Status.REVERSAL_FAILED:
        return f"Completed, but undoing {what} later failed ({payload.get('reversal') or 'a reversal'})."
    return f"Still {status.value}: {what} (action {action_id}); {check_back}."


def api_error(answer: ApiAnswer, *, action_id: str | None = None, tool: str = "") -> CallToolResult:
    """An error result for an API answer that is not an action: bad input, refused, not found, unauthenticated."""
    message = answer.error.rstrip(".")
    if answer.status in (413, 422):
        text = f"Bad input, nothing was started: {message}. Fix the arguments and call again."
    elif answer.status == 401:
        text = (
            f"The cxgov API refused this agent's key: {message}. Nothing was done; the key must be replaced "
            "(`cxgov keys issue`)."
        )
    elif answer.status == 403:
        text = f"Refused: {message}."
    elif answer.status == 404:
        text = f"Not found: {message} (an agent sees only its own actions)."
    else:
        text = unavailable_text(message, action_id=action_id, tool=tool)
    return result(text, answer.payload, error=True)


def unavailable_text(message: str, *, action_id: str | None, tool: str) -> str:
    """cxgov could not answer: the outcome of a request may be unknown, and how to retry it safely."""
    retry = (
        f' The outcome is unknown: call {tool} again with action_id="{action_id}" (the same id never acts twice), '
        f'or ask get_action(action_id="{action_id}").'
        if action_id is not None
        else " Try again shortly."
    )
    return f"cxgov is unavailable: {message.rstrip('.')}.{retry}"


def _decided_by(payload: dict[str, Any], verdict: str) -> dict[str, Any] | None:
    """The accepted approval attempt with this verdict (only in the full JSON of `GET /v1/actions/{id}`)."""
    for attempt in reversed(payload.get("approvals") or []):
        if attempt.get("accepted") and attempt.get("verdict") == verdict:
            found: dict[str, Any] = attempt
            return found
    return None


def _when(deadline: Any) -> str:
    if not isinstance(deadline, str):
        return "its deadline"
    try:
        moment = datetime.fromisoformat(deadline)
    except ValueError:
        return deadline
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
