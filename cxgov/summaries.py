"""One line that says what an action is, and a few that say where it stands, for people who glance.

The Temporal UI shows a workflow's static summary (set when it starts) and its current details (set by the workflow
as it goes: Temporal's user metadata); notifications and the console reuse the same words. Everything here is pure:
the workflows call it under replay.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from cxgov.wire import ActionRequest, ActionState, DrillResult, PendingApproval, ReversalState, Status

MAX_SUMMARY = 200
"""Temporal keeps summaries short; a longer one is clipped (the request itself is in the history)."""


def action_summary(request: ActionRequest, *, amount: Decimal | None = None, currency: str | None = None) -> str:
    """`support-bot refund 120 USD for C-100`: who does what, how much, for whom."""
    money = ""
    if amount is not None:
        money = f" {_plain(amount)}{f' {currency}' if currency else ''}"
    return _clip(f"{request.actor} {request.action}{money} for {request.customer}")


def request_amount(request: ActionRequest, amount_param: str | None) -> Decimal | None:
    """The request's amount under the charter's money param, when it reads as a number."""
    if amount_param is None or amount_param not in request.params:
        return None
    try:
        return Decimal(str(request.params[amount_param]))
    except ArithmeticError:
        return None


def action_details(state: ActionState) -> str:
    """Where the action stands, in Markdown (the Temporal UI renders it): status first, then why."""
    status = state.status
    decision = state.decision
    if status == Status.AWAITING_APPROVAL and state.pending is not None:
        return pending_details(state.pending)
    if status == Status.DENIED and decision is not None:
        refused = next((a for a in reversed(state.approvals) if a.accepted and a.verdict == "deny"), None)
        if refused is not None:
            return f"**Denied** by {refused.person} ({refused.role or 'approver'}): {refused.reason}"
        return f"**Denied** by rule `{decision.rule}`{' (gap)' if decision.gap else ''}: {'; '.join(decision.reasons)}"
    if status == Status.EXPIRED:
        return f"**Expired**: {state.error or 'no approval before the last ladder step timed out'}"
    if status == Status.COMPLETED:
        approved = next((a for a in reversed(state.approvals) if a.accepted and a.verdict == "approve"), None)
        by = f", approved by {approved.person}" if approved is not None else ""
        return f"**Completed**{by}: {_last_step(state)}"
    if status == Status.COMPENSATED:
        return f"**Compensated** (the effect was undone): {state.error or _last_step(state)}"
    if status == Status.COMPENSATION_FAILED:
        owners = ", ".join(state.escalated_to) or "the reversal owners"
        return f"**Compensation failed**: {state.error or _last_step(state)}. Escalated to {owners}"
    if status == Status.FAILED:
        return f"**Failed** (nothing to undo): {state.error or _last_step(state)}"
    if status == Status.REVERSED:
        return f"**Reversed** by {state.reversal or 'its reversal'}"
    return f"**{status.value.replace('_', ' ').capitalize()}**"


def pending_details(pending: PendingApproval) -> str:
    """Awaiting approval from whom until when: role, eligible people, deadline, ladder step."""
    who = ", ".join(pending.eligible) or "nobody eligible"
    covering = f" (coverage for {pending.coverage_for})" if pending.coverage_for else ""
    return (
        f"**Awaiting approval** from {pending.role}{covering}: {who}, until {_when(pending.deadline)} "
        f"(step {pending.phase} of {pending.phases})"
    )


def reversal_summary(action_id: str, *, person: str) -> str:
    """`maria reverses action-…`: set when the reversal starts, before anything about the action is read."""
    return _clip(f"{person} reverses {action_id}")


def reversal_details(state: ReversalState) -> str:
    """The reversal's outcome: by whom, of what, and why it was refused or failed."""
    what = f"{state.actor} {state.action} for {state.customer}" if state.action else state.request.action_id
    who = state.request.person
    if state.refusal:
        return f"**Refused** ({who} asked to reverse {what}): {state.refusal}"
    if state.status == Status.REVERSED:
        return f"**Reversed** by {who}: {what}; reason: {state.request.reason}"
    if state.status == Status.REVERSAL_FAILED:
        owners = ", ".join(state.escalated_to) or state.owner_role or "the reversal owners"
        return f"**Reversal failed** ({who}, {what}): {state.error or 'see steps'}. Escalated to {owners}"
    return f"**Reversing** {what} for {who}"


def drill_summary(action: str) -> str:
    return f"reversal drill of {action} (sandbox)"


def drill_details(result: DrillResult) -> str:
    if result.passed:
        return f"**Drill passed**: {result.action} was done and undone in the sandbox, state restored"
    return f"**Drill failed** at {result.failing_step or 'preparation'}: {result.reason or 'see steps'}"


def _last_step(state: ActionState) -> str:
    if not state.steps:
        return "no steps ran"
    step = state.steps[-1]
    return f"{step.step} {'ok' if step.ok else 'failed'}: {step.summary}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _plain(amount: Decimal) -> str:
    """120.00 reads 120; 40.50 stays 40.50."""
    return str(int(amount)) if amount == amount.to_integral_value() else format(amount, "f")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"
