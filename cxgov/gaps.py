"""Governance gaps: what the charter and the running system do not cover, or no longer prove.

Requests no rule covered (from the audit archive), charter gaps (`charter check`), reversal drills that are
overdue or failing (from the drill ledger), reversible actions whose undo no named human of the reversal owner
role signed within the last 90 days (`cxgov drills sign`), actors whose recertification is overdue, an archive
that lags Temporal by more than half the retention, and notifications that reached nobody. Gaps are findings,
not errors.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from cxgov.audit.failures import ArchiveFailure
from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter, charter_gaps
from cxgov.drills.ledger import ActionDrills, DrillLedger
from cxgov.drills.signatures import SIGNATURE_MAX_AGE, DrillSignatures
from cxgov.killswitch import Freeze
from cxgov.notify.models import NoticeFailure
from cxgov.overrides import Override
from cxgov.questions import drill_answer

RECERTIFICATION = "recertification-overdue"
UNAUTHENTICATED = "0-unauthenticated"
"""The rule denying requests without a valid signature of a trusted cxgov server."""
"""The charter gap kind reported in its own section (and only there)."""


class _Finding(BaseModel):
    model_config = ConfigDict(frozen=True)


class GapRequests(_Finding):
    """Requests of one actor and action that no rule covered (denied as gaps), with the latest as example."""

    actor: str | None
    action: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    example_action_id: str | None
    example_customer: str | None
    example_channel: str | None
    example_reason: str | None
    """Why the requester asked."""
    example_decision: str | None
    """Why no rule covered it (the decision's first reason)."""


class CharterFinding(_Finding):
    kind: str
    subject: str
    detail: str


class DrillFinding(_Finding):
    """A reversible action whose undo is not trusted now."""

    action: str
    every: str
    last_run: datetime | None
    last_result: str | None
    last_pass: datetime | None
    last_failure: str | None
    because: str
    """In short: never drilled, the last drill failed, or the last pass is too old."""
    why: str
    """The drill gate's own words (what decisions say)."""
    consequence: str


class UnsignedDrill(_Finding):
    """A reversible action whose undo no named human vouched for: no signature, by an active member of its reversal
    owner role, of a drill that passed within the last 90 days (`SIGNATURE_MAX_AGE`)."""

    action: str
    owner: str | None
    """The reversal owner role, whose members sign; None: nobody can sign (the action has no owner role)."""
    owner_people: list[str]
    """The role's active members: who can close the gap."""
    last_pass: datetime | None
    """When the action's latest passing drill finished (what a signature would sign); None: never passed."""
    last_signed_at: datetime | None
    """The newest signature of any drill of the action, counted or not; None: never signed."""
    last_signed_by: str | None
    because: str
    """One sentence: why no signature counts now, and what closes the gap."""


class RecertificationFinding(_Finding):
    actor: str
    kind: str
    owner: str
    recertify_by: str
    days_overdue: int


class ArchiveLag(_Finding):
    """How far the archive is behind Temporal, and whether that is a gap (over half the retention)."""

    lag_seconds: float
    unarchived: int
    half_retention_seconds: float
    gap: bool
    last_pass_failed: str | None = None
    """The newest archive pass failed (e.g. the audit database was down): when, and why. Also a gap."""


class GapReport(_Finding):
    charter: str
    version: int
    at: datetime
    requests: list[GapRequests]
    unauthenticated: list[GapRequests] = []
    """Requests that did not come through the front door (rule 0-unauthenticated), grouped the same way."""
    charter_gaps: list[CharterFinding]
    drills: list[DrillFinding]
    recertification: list[RecertificationFinding]
    unsigned_drills: list[UnsignedDrill] = []
    """Reversible actions without a signature, by a member of the reversal owner role, within 90 days."""
    archive_lag: ArchiveLag | None
    notes: list[str]
    untold: list[NoticeFailure] = []
    """Notices that reached nobody on some target (no route, a channel refused, a timeout): nobody was told."""
    notifications_off: bool = False
    """No notification file: nobody is told anything (approvers learn of approvals only by looking)."""
    frozen: list[Freeze] = []
    """Freezes in force: every request of the scope is denied until a person in the freeze roles unfreezes."""
    unreviewed_overrides: list[Override] = []
    """Break-glass overrides nobody other than their maker has reviewed yet (`cxgov overrides review`)."""
    unarchived: list[ArchiveFailure] = []
    """Closed runs the archiver could not archive (retried every pass): their history is not yet evidence."""

    @property
    def findings(self) -> int:
        """How many gaps were found (an archive lag counts only when it is a gap)."""
        lagging = self.archive_lag is not None and (self.archive_lag.gap or self.archive_lag.last_pass_failed)
        lag = 1 if lagging else 0
        found = len(self.requests) + len(self.unauthenticated) + len(self.charter_gaps) + len(self.drills)
        found += len(self.recertification) + lag + len(self.untold) + len(self.unsigned_drills)
        return found + len(self.frozen) + len(self.unreviewed_overrides) + len(self.unarchived)


def gap_requests(archive: AuditArchive, *, rule: str | None = None) -> list[GapRequests]:
    """Requests no rule covered (or that `rule` decided), grouped by actor and action, most frequent first."""
    found = []
    for group in archive.gap_summary(rule=rule):
        example = group.example
        reasons = _json_list(example.reasons)
        found.append(
            GapRequests(
                actor=group.actor,
                action=group.action,
                count=group.count,
                first_seen=group.first_seen,
                last_seen=group.last_seen,
                example_action_id=example.action_id,
                example_customer=example.customer,
                example_channel=example.channel,
                example_reason=example.reason,
                example_decision=reasons[0] if reasons else None,
            )
        )
    return found


def drill_findings(charter: Charter, ledger: DrillLedger | None, *, now: datetime) -> list[DrillFinding]:
    """Reversible actions whose last drill failed, never ran, or last passed longer ago than drills.max_age."""
    found = []
    for action in charter.drilled_actions():
        record = ledger.drills(action=action) if ledger is not None else ActionDrills(action, None, None)
        drill = drill_answer(charter, action, record, now=now)
        if drill.stale_reason is None or drill.overdue_because is None or drill.while_overdue is None:
            continue
        found.append(
            DrillFinding(
                action=action,
                every=drill.every,
                last_run=drill.last_run,
                last_result=drill.last_result,
                last_pass=drill.last_pass,
                last_failure=drill.last_failure,
                because=drill.overdue_because,
                why=drill.stale_reason,
                consequence=drill.while_overdue,
            )
        )
    return found


def unsigned_drill_findings(
    charter: Charter, ledger: DrillLedger | None, signatures: DrillSignatures | None, *, now: datetime
) -> list[UnsignedDrill]:
    """Reversible actions without a counted signature: none by an active member of the reversal owner role of a
    drill that finished within SIGNATURE_MAX_AGE (no ledger or no signatures yet: every reversible action)."""
    found = []
    days = f"{SIGNATURE_MAX_AGE.days}d"
    for action in charter.drilled_actions():
        if signatures is not None and signatures.current(charter=charter, action=action, now=now) is not None:
            continue
        owner = charter.actions[action].reversal.owner
        members = charter.active_members(owner) if owner is not None else []
        last_pass = ledger.drills(action=action).last_pass if ledger is not None else None
        newest = signatures.signatures(action=action)[:1] if signatures is not None else []
        signed = newest[0] if newest else None
        close = f"a member of {owner} ({', '.join(members) or 'nobody'}) signs with `cxgov drills sign {action}`"
        if owner is None:
            because = f"{action} has no reversal owner role, so no named human can sign its drills (a charter gap)"
        elif not members:
            because = f"{owner}, the reversal owner role of {action}, has no active member to sign its drills"
        elif last_pass is None:
            because = f"no drill of {action} has passed, so there is nothing to sign: run `cxgov drills run {action}`"
        elif now - last_pass.finished > SIGNATURE_MAX_AGE:
            because = f"the last pass of {action} is older than {days}: run `cxgov drills run {action}`, then {close}"
        elif signed is None:
            because = f"no named human signed a drill of {action}: {close}"
        elif signed.person not in members:
            because = f"{signed.person}, who signed last, is no longer an active member of {owner}: {close}"
        else:
            because = f"the last signed drill of {action} is older than {days}: {close}"
        found.append(
            UnsignedDrill(
                action=action,
                owner=owner,
                owner_people=members,
                last_pass=last_pass.finished if last_pass is not None else None,
                last_signed_at=signed.signed_at if signed is not None else None,
                last_signed_by=signed.person if signed is not None else None,
                because=because,
            )
        )
    return found


def recertification_findings(charter: Charter, *, now: datetime) -> list[RecertificationFinding]:
    """Actors whose recertification date has passed: every request they make is denied."""
    today = now.date()
    return [
        RecertificationFinding(
            actor=name,
            kind=actor.kind,
            owner=actor.owner,
            recertify_by=actor.recertify_by.isoformat(),
            days_overdue=(today - actor.recertify_by).days,
        )
        for name, actor in charter.actors.items()
        if charter.standing(name, today=today).overdue_since is not None
    ]


def archive_lag_finding(
    charter: Charter, *, lag: timedelta, unarchived: int, last_pass_failed: str | None = None
) -> ArchiveLag:
    """The archive's lag behind Temporal; a gap once it is over half the retention (history would be lost), or
    when the newest archive pass failed."""
    half = timedelta(days=charter.retention_days) / 2
    return ArchiveLag(
        lag_seconds=lag.total_seconds(),
        unarchived=unarchived,
        half_retention_seconds=half.total_seconds(),
        gap=lag > half,
        last_pass_failed=last_pass_failed,
    )


def gap_report(
    charter: Charter,
    *,
    archive: AuditArchive | None,
    ledger: DrillLedger | None,
    now: datetime,
    lag: tuple[timedelta, int] | None = None,
    last_pass_failed: str | None = None,
    notes: list[str] | None = None,
    untold: list[NoticeFailure] | None = None,
    notifications_off: bool = False,
    signatures: DrillSignatures | None = None,
) -> GapReport:
    """Every gap, from the charter, the archive (None: no archive yet), the ledger, the drill signatures and the
    archive's lag.

    Args:
        lag: `archive_lag` (age of the oldest unarchived closed workflow, how many), or None when Temporal
            was not asked (`notes` say why).
        notes: What could not be checked, and why.
        untold: Notices not delivered to some target (from the notification ledger).
        signatures: The drill signatures (None: none yet, so every reversible action is unsigned).
    """
    notes = list(notes or [])
    if archive is None:
        notes.append("no audit archive yet: no requests recorded")
    return GapReport(
        charter=charter.charter,
        version=charter.version,
        at=now,
        requests=gap_requests(archive) if archive is not None else [],
        unauthenticated=gap_requests(archive, rule=UNAUTHENTICATED) if archive is not None else [],
        charter_gaps=[
            CharterFinding(kind=gap.kind, subject=gap.subject, detail=gap.detail)
            for gap in charter_gaps(charter, today=now.date())
            if gap.kind != RECERTIFICATION
        ],
        drills=drill_findings(charter, ledger, now=now),
        recertification=recertification_findings(charter, now=now),
        unsigned_drills=unsigned_drill_findings(charter, ledger, signatures, now=now),
        archive_lag=(
            archive_lag_finding(charter, lag=lag[0], unarchived=lag[1], last_pass_failed=last_pass_failed)
            if lag is not None
            else None
        ),
        notes=notes,
        untold=list(untold or []),
        notifications_off=notifications_off,
    )


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
