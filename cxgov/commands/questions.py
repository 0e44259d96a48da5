"""`cxgov questions` and `cxgov gaps`: the one-page governance picture, and what it does not cover."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from cxgov.answers import ActionAnswer, ActorAnswer, Approver, GovernanceAnswers, Ladder, Scope
from cxgov.audit.failures import ArchiveFailure, ArchiveFailures
from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter, load_charter
from cxgov.commands.common import JsonOpt, command, emit, run_async, settings
from cxgov.drills.ledger import DrillLedger
from cxgov.drills.signatures import SIGNATURE_MAX_AGE, DrillSignatures
from cxgov.errors import CxgovError, Unavailable
from cxgov.gaps import GapReport, gap_report
from cxgov.killswitch import Freeze, FreezeBook
from cxgov.notify.models import NoticeFailure
from cxgov.overrides import Override, OverrideBook
from cxgov.questions import Trail, answer_questions, sqlite_file
from cxgov.settings import Settings, shown_url


@contextmanager
def sources(config: Settings) -> Iterator[tuple[AuditArchive | None, DrillLedger | None]]:
    """The archive and the drill ledger; (None, None) when the SQLite file does not exist (reading creates nothing).

    Raises:
        Unavailable: The database exists but cannot be opened (a guess would not be an answer).
    """
    url = config.audit_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        yield None, None
        return
    try:
        archive = AuditArchive(url)
        ledger = DrillLedger(url)
    except (SQLAlchemyError, OSError) as err:
        raise Unavailable(f"the audit archive at {shown_url(url)} cannot be opened ({type(err).__name__})") from None
    try:
        yield archive, ledger
    finally:
        ledger.close()
        archive.close()


@contextmanager
def signed_drills(config: Settings) -> Iterator[DrillSignatures | None]:
    """The drill signatures; None when the SQLite file does not exist (reading creates nothing).

    Raises:
        Unavailable: The database exists but cannot be opened.
    """
    url = config.audit_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        yield None
        return
    try:
        signatures = DrillSignatures(url)
    except (SQLAlchemyError, OSError) as err:
        raise Unavailable(f"the audit archive at {shown_url(url)} cannot be opened ({type(err).__name__})") from None
    try:
        yield signatures
    finally:
        signatures.close()


@command
def questions(
    actor: Annotated[str | None, typer.Option(help="Only this actor or person, e.g. support-bot or omar.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer the three governance questions for every action of every actor (or one).

    Scope: what the grant allows, for whom, up to what amount, with whose approval, under which signed charter.

    Reversibility: how it is undone, until when, by whom, when the undo last passed a reversal drill, and which
    member of the reversal owner role signed that drill (within 90 days).

    Auditability: where the attributed record is, how to pull it, how long it is kept, how many are archived.
    """
    config = settings()
    charter = load_charter(config.charter_path)
    with sources(config) as (archive, ledger), signed_drills(config) as signatures:
        answers = answer_questions(
            charter,
            trail=Trail.of(config),
            ledger=ledger,
            archive=archive,
            now=datetime.now(UTC),
            actor=actor,
            signatures=signatures,
            freezes=interventions_of(config, archive)[0],
        )
    emit(answers.model_dump(mode="json"), "\n".join(questions_text(answers)))


@command
def gaps(as_json: JsonOpt = False) -> None:
    """List what is not governed, or no longer proven: the gaps to close.

    Requests no rule covered, grouped by actor and action, with counts, first and last seen, and an example.

    Charter gaps, reversal drills overdue or failing, reversible actions whose drill no member of the reversal
    owner role signed within 90 days (`cxgov drills sign`), actors overdue for recertification, and the archive's
    lag.

    Gaps are findings, not errors: the exit code is 0.
    """
    config = settings()
    charter = load_charter(config.charter_path)
    now = datetime.now(UTC)
    report = run_async(current_gaps(config, charter, now=now))
    emit({**report.model_dump(mode="json"), "findings": report.findings}, "\n".join(gaps_text(report)))


async def current_gaps(config: Settings, charter: Charter, *, now: datetime, client: Client | None = None) -> GapReport:
    """Every gap now: from the archive, the drill ledger, the archive's lag behind Temporal (`client`, or a new
    connection) and the notification ledger. For `cxgov gaps` and `GET /v1/gaps`."""
    with sources(config) as (archive, ledger), signed_drills(config) as signatures:
        lag, why = await archive_lag_of(config, archive, now=now, client=client)
        failed_pass = await last_archive_failure(config, client=client) if lag is not None else None
        untold, off = await asyncio.to_thread(untold_of, config, archive, now=now)
        frozen, overrides = await asyncio.to_thread(interventions_of, config, archive)
        unarchived = await asyncio.to_thread(unarchived_of, config, archive)
        report = gap_report(
            charter,
            archive=archive,
            ledger=ledger,
            now=now,
            lag=lag,
            last_pass_failed=failed_pass,
            notes=[why] if why else [],
            untold=untold,
            notifications_off=off,
            signatures=signatures,
        )
        return report.model_copy(update={"frozen": frozen, "unreviewed_overrides": overrides, "unarchived": unarchived})


def unarchived_of(config: Settings, archive: AuditArchive | None) -> list[ArchiveFailure]:
    """The closed runs the archiver failed to archive and still retries (none before the archive exists)."""
    if archive is None:
        return []
    failures = ArchiveFailures(config.audit_url)
    try:
        return failures.open()
    finally:
        failures.close()


def interventions_of(config: Settings, archive: AuditArchive | None) -> tuple[list[Freeze], list[Override]]:
    """The freezes in force and the overrides nobody reviewed yet (none before the archive exists)."""
    if archive is None:
        return [], []
    freezes, overrides = FreezeBook(config.audit_url), OverrideBook(config.audit_url)
    try:
        return freezes.active(), overrides.all(unreviewed=True)
    finally:
        freezes.close()
        overrides.close()


def untold_of(config: Settings, archive: AuditArchive | None, *, now: datetime) -> tuple[list[NoticeFailure], bool]:
    """Notices that reached nobody (from the notification ledger next to the archive), and whether notifications
    are off (no CXGOV_NOTIFY)."""
    off = config.notify_path is None
    if archive is None:
        return [], off
    from cxgov.notify import Notifier

    ledger = Notifier(None, database_url=config.audit_url, public_url=None)
    try:
        return ledger.failures(now=now), off
    finally:
        ledger.close()


async def last_archive_failure(config: Settings, *, client: Client | None = None) -> str | None:
    """When and why the newest archive pass (an `audit-archive` run) failed; None when it did not (or none ran)."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

    from cxgov.connection import connect

    try:
        client = client or await connect(config)
        query = 'WorkflowType = "audit-archive" AND ExecutionStatus != "Running"'
        closed = [execution async for execution in client.list_workflows(query, limit=20)]
        if not closed:
            return None
        newest = max(closed, key=lambda execution: execution.close_time or datetime.min.replace(tzinfo=UTC))
        if newest.status == WorkflowExecutionStatus.COMPLETED:
            return None
        why = (newest.status.name.lower() if newest.status is not None else "failed").replace("_", " ")
        try:
            await client.get_workflow_handle(newest.id, run_id=newest.run_id).result()
        except WorkflowFailureError as err:
            cause = err.cause
            while cause.__cause__ is not None:
                cause = cause.__cause__
            why = f"{why}: {cause}"
        at = newest.close_time.strftime("%Y-%m-%d %H:%M UTC") if newest.close_time else "?"
        return f"the archive pass at {at} {why}"[:500]
    except Exception:  # a note elsewhere says when Temporal could not be asked
        return None


async def archive_lag_of(
    config: Settings, archive: AuditArchive | None, *, now: datetime, client: Client | None = None
) -> tuple[tuple[timedelta, int] | None, str | None]:
    """The archive's lag behind Temporal (with no archive yet: every closed workflow), or None and why not."""
    from cxgov.audit.sync import archive_lag, closed_query
    from cxgov.connection import connect

    try:
        client = client or await connect(config)
        if archive is not None:
            return await archive_lag(client, archive, now=now), None
        closed = [execution.close_time async for execution in client.list_workflows(closed_query(since=None))]
        oldest = min((moment for moment in closed if moment is not None), default=None)
        return ((now - oldest) if oldest is not None else timedelta(0), len(closed)), None
    except CxgovError:
        return None, f"archive lag not checked: Temporal is not reachable at {config.temporal_address}"
    except Exception as err:  # visibility refused the query, the namespace is missing, ...: a note, not a failure
        first = str(err).splitlines()[0] if str(err) else ""
        return None, f"archive lag not checked: {type(err).__name__}: {first}"


# --- text ------------------------------------------------------------------------------------------------


def _when(moment: datetime | None, *, seconds: bool = False) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _money(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount == amount.to_integral() else format(amount, "f")


def _listed(values: list[str] | None) -> str:
    return ", ".join(values) if values is not None else "any"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def questions_text(answers: GovernanceAnswers) -> list[str]:
    """One block per actor, each fitting one screen."""
    lines: list[str] = []
    for actor in answers.actors:
        if lines:
            lines.append("")
        lines += _actor_text(answers, actor)
    return lines


def _actor_text(answers: GovernanceAnswers, actor: ActorAnswer) -> list[str]:
    if actor.kind == "person":
        who = f"person, roles {', '.join(actor.roles) or 'none'}"
    else:
        who = f"{actor.kind}, owner {actor.owner}, recertify by {actor.recertify_by}"
    if not actor.actions:
        via = f" or role {', '.join(actor.roles)}" if actor.roles else ""
        return [f"{actor.actor}  {who}: may take no action (deny by default: no grant covers {actor.actor}{via})"]
    lines = [f"{actor.actor}  {who}: may take {_count(len(actor.actions), 'action')}"]
    if actor.denied:
        lines.append(f"  DENIED  every request: {actor.denied}")
    signed = ", ".join(f"{s.function} {s.by} {s.on.isoformat()}" for s in answers.signoffs)
    lines.append(f"  charter {answers.charter} v{answers.version}, signed off by {signed}")
    audit = actor.actions[0].auditability
    lines.append(f"  trail   Temporal history, namespace {audit.namespace} at {audit.temporal_address}; UI {audit.ui}")
    lines.append(f"  archive {audit.archive}, kept {audit.retention_days} days")
    for action in actor.actions:
        lines += _action_text(answers, action)
    return lines


def _action_text(answers: GovernanceAnswers, answer: ActionAnswer) -> list[str]:
    scope, drill, audit = answer.scope, answer.reversibility.drill, answer.auditability
    lines = [f"  {answer.action}: {answer.summary}" if answer.summary else f"  {answer.action}"]
    if scope.denied:
        lines.append(f"    DENIED  {scope.denied}: every request is denied")
    if scope.require_approval:
        how = ", every request needs a person's approval"
    else:
        how = ", on its own" if scope.amount_param is None else ""  # else the amount line says
    where = f"channels {_listed(scope.channels)}; segments {_listed(scope.segments)}"
    skus = f"; never SKUs {', '.join(scope.excluded_skus)}" if scope.excluded_skus else ""
    lines.append(f"    scope   grant to {scope.grant}{how}: {where}{skus}")
    if scope.amount_param is not None and not scope.require_approval:
        lines.append(f"    amount  {_amount_text(scope)}")
    if scope.budget is not None:
        parts = [f"{scope.budget.count} requests"] if scope.budget.count is not None else []
        parts += [f"{_money(scope.budget.amount)} {scope.currency}"] if scope.budget.amount is not None else []
        enforced = "" if scope.budget.enforced else " (in the charter; not enforced by this version)"
        lines.append(f"    budget  {' and '.join(parts)} per rolling {scope.budget.per}{enforced}")
    if scope.preconditions:
        checks = ", ".join(scope.preconditions)
        lines.append(f"    checks  {checks} ({next(iter(scope.preconditions.values()))})")
    if scope.require_approval or scope.approve_above is not None or (drill is not None and drill.overdue):
        lines.append(f"    ladder  {_ladder_text(scope.ladder, money=scope.amount_param is not None)}")
    lines.append(f"    undo    {_undo_text(answer)}")
    if drill is not None:
        result = f"last run {_when(drill.last_run)} {drill.last_result}" if drill.last_run else "never run"
        lines.append(
            f"    drill   every {drill.every} ({drill.schedule}); {result}; last pass {_when(drill.last_pass)}; "
            f"{drill.signoff}"
        )
        failure = f" ({drill.last_failure})" if drill.last_failure else ""
        if drill.overdue:
            lines.append(f"            OVERDUE: {drill.overdue_because}{failure}; {drill.while_overdue}")
    if audit.records is not None and audit.requests is not None:
        other = audit.records - audit.requests
        records = f"{_count(audit.requests, 'request')} archived" + (
            f", and {other} refused attempt(s) or reversal(s)" if other else ""
        )
    else:
        records = answers.archive_note or "no records yet"
    lines.append(f"    audit   {records}; UI search: {audit.ui_search}")
    lines.append(f"    pull    {audit.pull}")
    return lines


def _amount_text(scope: Scope) -> str:
    currency, top, above = scope.currency, scope.max_amount, scope.approve_above
    approval = "with approval" if scope.ladder is not None else "denied (no approval ladder)"
    if above is not None and top is not None:
        return (
            f"up to {_money(above)} {currency} on its own; over {_money(above)} up to {_money(top)} {approval}; "
            f"over {_money(top)} denied"
        )
    if above is not None:
        return f"up to {_money(above)} {currency} on its own; over {_money(above)} {approval} (no maximum)"
    if top is not None:
        return f"up to {_money(top)} {currency} on its own; over {_money(top)} denied"
    return f"any amount of {scope.amount_param} (the grant sets no limit)"


def _ladder_text(ladder: Ladder | None, *, money: bool) -> str:
    if ladder is None:
        return "none: what needs approval is denied (the action has no approval ladder)"
    steps = []
    for step in ladder.steps:
        people = ", ".join(_approver(person, money=money) for person in step.people) or "nobody"
        steps.append(f"{step.role}{' covering' if step.covering else ''} ({people})")
    return f"{' -> '.join(steps)}; {ladder.step_timeout} a step, then {ladder.on_timeout}"


def _approver(approver: Approver, *, money: bool) -> str:
    if not money:
        return approver.person
    if approver.approve_limit is None:
        return f"{approver.person} (no money)"
    return f"{approver.person} up to {_money(approver.approve_limit)}"


def _undo_text(answer: ActionAnswer) -> str:
    undo = answer.reversibility
    owner = f"{undo.owner} ({', '.join(undo.owner_people) or 'nobody'})" if undo.owner else None
    if undo.kind == "irreversible":
        return f"cannot be undone (not drilled); procedure: {undo.procedure}; owner: {owner or 'none (charter gap)'}"
    when = {
        "always": "any time",
        "window": f"within {undo.window} of completing",
        "until": f"until {undo.until} ({undo.until_meaning})",
    }[undo.kind]
    return f"{when}, by {owner or 'nobody: no reversal owner (charter gap)'}: {undo.procedure}"


def gaps_text(report: GapReport) -> list[str]:
    """The report as text: one section per kind of gap, `none` for empty ones."""
    lines = [f"gaps of charter {report.charter} v{report.version} at {_when(report.at)}: {report.findings} finding(s)"]
    for title, groups in (
        ("requests no rule covered", report.requests),
        ("requests that skipped the front door (unsigned, denied)", report.unauthenticated),
    ):
        if not groups and title.startswith("requests that skipped"):
            continue
        requests = sum(group.count for group in groups)
        lines.append(
            f"{title}: {_count(requests, 'request')} in {_count(len(groups), 'group')}" if groups else f"{title}: none"
        )
        for group in groups:
            lines.append(
                f"  {group.actor} / {group.action}: {_count(group.count, 'request')}, "
                f"first {_when(group.first_seen, seconds=True)}, last {_when(group.last_seen, seconds=True)}"
            )
            example = [group.example_action_id or "an action"]
            example += [f"for {group.example_customer}"] if group.example_customer else []
            example += [f"by {group.example_channel}"] if group.example_channel else []
            asked = f", asked {group.example_reason!r}" if group.example_reason else ""
            lines.append(f"    e.g. {' '.join(example)}{asked}: {group.example_decision or 'no reason recorded'}")
    lines.append(f"charter gaps: {len(report.charter_gaps) or 'none'}")
    lines += [f"  [{gap.kind}] {gap.subject}: {gap.detail}" for gap in report.charter_gaps]
    lines.append(f"drills overdue or failing: {len(report.drills) or 'none'}")
    for drill in report.drills:
        result = f"last run {_when(drill.last_run)} {drill.last_result}" if drill.last_run else "never run"
        lines.append(f"  {drill.action}: {drill.because}; {drill.consequence}")
        lines.append(f"    every {drill.every}; {result}; last pass {_when(drill.last_pass)}")
        if drill.last_failure:
            lines.append(f"    failed: {drill.last_failure}")
    lines.append(
        f"drills not signed by a named human within {SIGNATURE_MAX_AGE.days}d: {len(report.unsigned_drills) or 'none'}"
    )
    for unsigned in report.unsigned_drills:
        owner = f"{unsigned.owner} ({', '.join(unsigned.owner_people) or 'nobody'})" if unsigned.owner else "no owner"
        signed = (
            f"last signed {_when(unsigned.last_signed_at)} by {unsigned.last_signed_by}"
            if unsigned.last_signed_by
            else "never signed"
        )
        lines.append(f"  {unsigned.action}: {unsigned.because}")
        lines.append(f"    owner {owner}; last pass {_when(unsigned.last_pass)}; {signed}")
    lines.append(f"recertification overdue: {len(report.recertification) or 'none'}")
    lines += [
        f"  {item.actor} ({item.kind}, owner {item.owner}): due {item.recertify_by}, {item.days_overdue} day(s) ago; "
        "every request it makes is denied until recertified"
        for item in report.recertification
    ]
    lag = report.archive_lag
    if lag is not None:
        half = f"{lag.half_retention_seconds / 86400:g}"
        state = "GAP: over half the retention" if lag.gap else f"within half the retention ({half}d)"
        lines.append(
            f"archive lag: {timedelta(seconds=round(lag.lag_seconds))}, "
            f"{lag.unarchived} closed workflow(s) not yet archived; {state}"
        )
        if lag.last_pass_failed:
            lines.append(f"  GAP: {lag.last_pass_failed}; the next pass resumes where it stopped")
    lines.append(f"nobody was told: {len(report.untold) or 'none'}")
    if report.notifications_off:
        lines.append(
            "  notifications are off (no CXGOV_NOTIFY): approvers learn of pending approvals only from the console "
            "or `cxgov approvals`, and nobody is told of expiries, failed undos or drills"
        )
    for failure in report.untold:
        about = failure.action_id or "drills"
        lines.append(
            f"  {failure.event.value} of {about} to {failure.target}"
            f"{f' ({failure.channel})' if failure.channel else ''}: {failure.error}"
        )
        lines.append(f"    {failure.subject}; {_count(failure.attempts, 'attempt')}, last {_when(failure.at)}")
    lines.append(f"frozen: {len(report.frozen) or 'none'}")
    lines += [f"  {freeze.sentence()}; unfreeze with `cxgov unfreeze`" for freeze in report.frozen]
    lines.append(f"overrides not reviewed: {len(report.unreviewed_overrides) or 'none'}")
    lines += [
        f"  {item.sentence()}; someone else reviews it with `cxgov overrides review {item.action_id}`"
        for item in report.unreviewed_overrides
    ]
    lines.append(f"runs that failed to archive: {len(report.unarchived) or 'none'}")
    for failed in report.unarchived:
        lines.append(
            f"  {failed.workflow_id} (run {failed.run_id}): {_count(failed.attempts, 'attempt')} since "
            f"{_when(failed.first_failed)}, last: {failed.error}"
        )
    lines += [f"note: {note}" for note in report.notes]
    return lines
