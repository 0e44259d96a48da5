"""The notices each governance event sends: who hears about it, the one-line subject, and the body.

Pure functions of workflow state, called inside the workflows (so under replay): the key of each notice names
the action (or drill), the event and the ladder phase, and is what makes a retried activity send nothing twice.
"""

from __future__ import annotations

from cxgov.notify.models import Event, Notice
from cxgov.summaries import pending_details
from cxgov.wire import ActionState, DrillResult, PendingApproval, ReversalState

MAX_SUBJECT = 300


def approval_notice(state: ActionState, pending: PendingApproval, *, summary: str) -> Notice:
    """Approval requested of a ladder step's eligible people, or, on the coverage phase, escalated to coverage."""
    covering = pending.coverage_for is not None
    event = Event.ESCALATED if covering else Event.APPROVAL_REQUESTED
    decision = state.decision
    lines = [
        summary,
        f"Requested by {pending.actor} for customer {pending.customer}: {pending.reason}",
        f"Why it needs a person: {'; '.join(decision.reasons) if decision else 'the charter asks for approval'}",
        _plain(pending_details(pending)),
        f"Approve or deny with: cxgov approve {pending.action_id} --as <you> --reason ... "
        f"(or cxgov deny ...), or on the console page below.",
    ]
    if covering:
        lines.insert(1, f"Nobody of {pending.coverage_for} decided in time: you cover for them.")
    verb = "Escalated to you" if covering else "Approval needed"
    return Notice(
        key=f"{state.action_id}:{event.value}:{pending.phase}",
        event=event,
        subject=_subject(f"{verb}: {summary}"),
        body="\n".join(lines),
        action_id=state.action_id,
        people=list(pending.eligible),
    )


def expired_notice(state: ActionState, *, summary: str, owner: str | None) -> Notice:
    """Nobody approved in time: the requester's owner hears that the action was not taken."""
    request = state.request
    return Notice(
        key=f"{state.action_id}:{Event.EXPIRED.value}:0",
        event=Event.EXPIRED,
        subject=_subject(f"Expired, not taken: {summary}"),
        body="\n".join(
            [
                summary,
                f"Requested by {request.actor} for customer {request.customer}: {request.reason}",
                state.error or "no approval on any ladder step before its timeout",
                "The action was not taken. The customer may still be waiting on an answer.",
            ]
        ),
        action_id=state.action_id,
        people=[owner] if owner else [],
    )


def compensation_failed_notice(state: ActionState, *, summary: str, owner_role: str | None) -> Notice:
    """A step failed after the effect and the undo failed too: the reversal owners must act by hand."""
    return Notice(
        key=f"{state.action_id}:{Event.COMPENSATION_FAILED.value}:0",
        event=Event.COMPENSATION_FAILED,
        subject=_subject(f"Compensation failed, act now: {summary}"),
        body="\n".join(
            [
                summary,
                f"What failed: {state.error or 'a step after the effect'}",
                *(f"{step.step}: {'ok' if step.ok else 'FAILED'}: {step.summary}" for step in state.steps),
                "The effect may still be in place in the system of record: undo it by hand, following the "
                "charter's reversal procedure.",
            ]
        ),
        action_id=state.action_id,
        people=[] if owner_role else list(state.escalated_to),
        roles=[owner_role] if owner_role else [],
    )


def reversal_failed_notice(state: ReversalState) -> Notice:
    """A requested reversal did not restore the state: the reversal owners must finish it by hand."""
    what = f"{state.actor} {state.action} for {state.customer}" if state.action else state.request.action_id
    return Notice(
        key=f"{state.request.action_id}:{Event.REVERSAL_FAILED.value}:0",
        event=Event.REVERSAL_FAILED,
        subject=_subject(f"Reversal failed: {what}"),
        body="\n".join(
            [
                f"{state.request.person} asked to reverse {what}: {state.request.reason}",
                f"What failed: {state.error or 'see the steps'}",
                f"Procedure: {state.procedure or 'see the charter'}",
            ]
        ),
        action_id=state.request.action_id,
        people=[] if state.owner_role else list(state.escalated_to),
        roles=[state.owner_role] if state.owner_role else [],
    )


def drill_failed_notice(result: DrillResult, *, owner_role: str | None) -> Notice:
    """A reversal drill failed: the action's undo is untrusted, and its requests escalate until one passes."""
    return Notice(
        key=f"{result.drill_id}:{Event.DRILL_FAILED.value}:0",
        event=Event.DRILL_FAILED,
        subject=_subject(f"Reversal drill failed: {result.action}"),
        body="\n".join(
            [
                f"The reversal drill of {result.action} failed at {result.failing_step or 'preparation'}: "
                f"{result.reason or 'see the drill'}",
                f"Drill {result.drill_id}, charter v{result.charter_version}.",
                f"Until a drill of {result.action} passes, its requests escalate to the approval ladder.",
            ]
        ),
        roles=[owner_role] if owner_role else [],
    )


def drill_overdue_notice(action: str, *, why: str, consequence: str, since: str, owner_role: str | None) -> Notice:
    """An action's undo has not been proven recently enough: once per overdue spell (`since`: its last pass)."""
    return Notice(
        key=f"drill-{action}:{Event.DRILL_OVERDUE.value}:{since}",
        event=Event.DRILL_OVERDUE,
        subject=_subject(f"Reversal drill overdue: {action}"),
        body="\n".join([f"{action}: {why}", consequence, f"Run one now: cxgov drills run {action}"]),
        roles=[owner_role] if owner_role else [],
    )


def archive_failed_notice(run_id: str, *, workflow_id: str, error: str, roles: list[str], people: list[str]) -> Notice:
    """A closed run could not be archived: once per run (it is retried every pass, and shows in `gaps`)."""
    return Notice(
        key=f"archive-{run_id}:{Event.ARCHIVE_FAILED.value}"[:300],
        event=Event.ARCHIVE_FAILED,
        subject=_subject(f"Audit archive failed: {workflow_id}"),
        body="\n".join(
            [
                f"{workflow_id} (run {run_id}) closed but could not be archived: {error}"[:2000],
                "It is retried on every archive pass and listed by `cxgov gaps` until it is archived; Temporal "
                "deletes its history after the namespace retention, so fix the cause before then.",
            ]
        ),
        action_id=workflow_id if workflow_id.startswith("action-") else None,
        roles=roles,
        people=people,
    )


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


def _subject(text: str) -> str:
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"
