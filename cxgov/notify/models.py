"""What a notification is: the events people are told about, the notice an activity sends, and its outcomes.

No side effects and no Apprise or database here: these models cross the Temporal wire (an activity's input
and result), so workflows may import this module under `workflow.unsafe.imports_passed_through()`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Event(StrEnum):
    """Something a person has to hear about. The notification file may switch any of them off."""

    APPROVAL_REQUESTED = "approval_requested"
    """An action waits on a ladder step: to the step's eligible people."""
    ESCALATED = "escalated"
    """A step timed out and the action moved to the step role's coverage: to the coverage's people."""
    EXPIRED = "expired"
    """The ladder timed out; the action was not taken: to the requester's owner."""
    COMPENSATION_FAILED = "compensation_failed"
    """An effect could not be undone after a failed step: to the action's reversal owner role."""
    REVERSAL_FAILED = "reversal_failed"
    """A requested reversal did not restore the state: to the action's reversal owner role."""
    DRILL_FAILED = "drill_failed"
    """A reversal drill failed: the undo of that action is not trusted until one passes."""
    DRILL_OVERDUE = "drill_overdue"
    """An action's last passing drill is older than `drills.max_age` (or it was never drilled)."""
    FROZEN = "frozen"
    """The kill switch was set: to the freeze roles, and the frozen actor's owner or action's reversal owners."""
    UNFROZEN = "unfrozen"
    """A freeze was lifted: to the same people as the freeze."""
    OVERRIDDEN = "overridden"
    """A denied request was let through by break-glass: to the override and freeze roles, who review it."""
    ARCHIVE_FAILED = "archive_failed"
    """A closed run could not be archived (it is retried every pass): to the hold and freeze roles and the
    charter's signers, once per run."""


WARNING_EVENTS = frozenset(
    {
        Event.EXPIRED,
        Event.ARCHIVE_FAILED,
        Event.COMPENSATION_FAILED,
        Event.REVERSAL_FAILED,
        Event.DRILL_FAILED,
        Event.DRILL_OVERDUE,
        Event.FROZEN,
        Event.OVERRIDDEN,
    }
)
"""Events that report something broken (sent with Apprise's warning type; the rest are informational)."""


class Notice(BaseModel):
    """One notification an activity is asked to send: to people and roles, at most once per target.

    Example key: `action-<uuid>:approval_requested:2`: the action, the event and the ladder phase, so that
    a retried activity sends nothing twice and the next phase is a new notice.
    """

    key: str = Field(min_length=1, max_length=300)
    """Idempotency key: each target gets the notice of one key at most once."""
    event: Event
    subject: str = Field(min_length=1, max_length=300)
    """One line: `Approval needed: support-bot refund 120 USD for C-100`."""
    body: str = Field(max_length=20_000)
    """A few lines: the action's summary, reasons, deadline... The console link is appended when sending."""
    action_id: str | None = Field(default=None, max_length=200)
    """The action the link points at (`/actions/<id>`); None for drills (the link is `/drills`)."""
    people: list[str] = []
    """Recipients by person name (the charter's people)."""
    roles: list[str] = []
    """Recipients by charter role: the role's own route in the notification file, if it has one, and each of
    the role's people who has a route."""


class Delivery(BaseModel):
    """The outcome of a notice for one target and one of its channels."""

    target: str
    """`person:maria` or `role:support-leads` (`nobody` for a notice naming no one): never the URL, which may
    hold a secret."""
    ok: bool
    error: str | None = None
    """Why it was not delivered: `no route for person maria`, `webhook answered 500`, a timeout..."""
    channel: str | None = None
    """The kind of channel (the Apprise scheme: `mailto`, `slack`, `json`...); None when there was no route."""
    skipped: bool = False
    """Already delivered for this key earlier: nothing was sent this time."""


class NoticeFailure(BaseModel):
    """A notice that did not reach one of its targets and has not reached it since: nobody was told."""

    key: str
    event: Event
    action_id: str | None
    target: str
    channel: str | None
    error: str
    at: datetime
    """The last attempt."""
    attempts: int
    subject: str
