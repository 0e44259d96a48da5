"""`cxgov audit`: query and export the archive, sync it from Temporal, verify its chain, show retention."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import typer

from cxgov.audit.chain import ChainReport, parse_anchor
from cxgov.audit.store import AuditArchive
from cxgov.charter import load_charter
from cxgov.commands.common import JsonOpt, command, emit, filter_text, moment, run_async, settings
from cxgov.errors import BadRequest, CxgovError

audit_app = typer.Typer(
    help="The audit trail: every closed action, reversal and refused attempt, hash-chained.",
    invoke_without_command=True,
)

FORMATS = ("json", "csv")


def _archive() -> AuditArchive:
    return AuditArchive(settings().audit_url)


@audit_app.callback()
@command
def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Only records of this actor or person.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only records about this customer.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. refund.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this final status, e.g. completed, denied, refused.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="action | reversal | approval_refused | reversal_refused | expiry_receipt")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this long ago (180d) or this date (2026-06-01).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this long ago (7d) or this date.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="json (one object per line) or csv.")] = "json",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many records.")] = None,
) -> None:
    """Pull the audit trail, streamed (constant memory for millions of rows).

    Example: cxgov audit --actor support-bot --since 180d --format csv > support-bot.csv
    """
    if ctx.invoked_subcommand is not None:
        return
    if output_format not in FORMATS:
        raise BadRequest(f"--format {output_format!r}: use json or csv", field="format")
    actor, customer, action, status, kind = (
        filter_text(value, option=f"--{name}")
        for name, value in (
            ("actor", actor),
            ("customer", customer),
            ("action", action),
            ("status", status),
            ("kind", kind),
        )
    )
    now = datetime.now(UTC)
    start, end = moment(since, option="--since", now=now), moment(until, option="--until", now=now)
    archive = _archive()
    try:
        records = archive.query(
            actor=actor, customer=customer, action=action, status=status, kind=kind, since=start, until=end, limit=limit
        )
        fmt: Literal["json", "csv"] = "csv" if output_format == "csv" else "json"
        archive.export(records=records, format=fmt, out=sys.stdout)
    finally:
        archive.close()


@audit_app.command("sync")
@command
def audit_sync(
    full: Annotated[bool, typer.Option(help="Rescan every closed workflow Temporal still holds.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy every closed action and reversal from Temporal into the archive now (idempotent)."""
    from cxgov.audit.sync import sync_closed
    from cxgov.connection import connect

    async def go() -> tuple[int, int, list[str], float]:
        client = await connect(settings())
        archive = _archive()
        try:
            report = await sync_closed(client, archive, full=full)
        finally:
            archive.close()
        return report.archived, report.already, report.failed, report.lag(datetime.now(UTC)).total_seconds()

    archived, already, failed, lag = run_async(go())
    emit(
        {"archived": archived, "already": already, "failed": failed, "lag_seconds": lag},
        f"archived {archived} run(s); {already} already archived; {len(failed)} failed"
        + (f" (retried next sync: {', '.join(failed[:3])})" if failed else ""),
    )
    if failed:
        raise typer.Exit(1)


@audit_app.command("verify")
@command
def audit_verify(
    anchors: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            metavar="SEQ:HASH",
            help="A head printed by an earlier verify and kept outside the database; the record at SEQ must "
            "still have that hash, so a chain rewritten by someone with write access is caught. Repeatable.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chain; report the first altered, inserted or deleted record (exit 1).

    On success it prints the chain's head (SEQ:HASH). Keep it somewhere the database's writers cannot
    change (a ticket, a write-once bucket) and pass it back with --anchor.
    """
    expected: dict[int, str] = {}
    for text in anchors or []:
        try:
            seq, digest = parse_anchor(text)
        except ValueError as err:
            raise BadRequest(str(err), field="anchor") from None
        if expected.get(seq, digest) != digest:
            raise BadRequest(f"two anchors name record {seq} with different hashes", field="anchor")
        expected[seq] = digest
    archive = _archive()
    try:
        report = archive.verify(anchors=expected)
    finally:
        archive.close()
    emit(report.model_dump(), _verify_text(report))
    if not report.ok:
        raise typer.Exit(1)


def _verify_text(report: ChainReport) -> str:
    if not report.ok:
        return f"CHAIN BROKEN after {report.checked} good record(s): {report.problem}"
    lines = [f"chain intact: {report.checked} record(s) verified"]
    if report.head is not None:
        lines.append(f"head: {report.head}  (keep it outside the database; check it later with --anchor)")
    if report.anchors_checked:
        lines.append(f"anchors matched: {report.anchors_checked}")
    if report.anchors_purged:
        seqs = ", ".join(str(seq) for seq in report.anchors_purged)
        lines.append(f"anchors on records purged for retention, not checkable: {seqs}")
    return "\n".join(lines)


@audit_app.command("retention")
@command
def audit_retention(as_json: JsonOpt = False) -> None:
    """Show the retention policy (charter retention_days), the oldest record, the next purge, the archive lag."""
    config = settings()
    charter = load_charter(config.charter_path)
    now = datetime.now(UTC)
    archive = _archive()
    try:
        retention = archive.retention_status(retention_days=charter.retention_days, now=now)
    finally:
        archive.close()
    next_purge, lag = run_async(_schedule_and_lag(now))
    half = timedelta(days=charter.retention_days) / 2
    payload = {
        "retention_days": charter.retention_days,
        "oldest_record": retention.oldest,
        "records": retention.count,
        "past_retention": retention.expired,
        "next_purge": next_purge,
        "lag_seconds": None if lag is None else lag.total_seconds(),
        "lag_is_gap": lag is not None and lag > half,
    }
    lines = [
        f"policy: keep {charter.retention_days} days (charter {charter.charter} v{charter.version})",
        f"records: {retention.count}; oldest: {retention.oldest or 'none'}; past retention: {retention.expired}",
        f"next purge: {next_purge or 'no retention schedule running (start the stack with cxgov up)'}",
        "archive lag: "
        + (
            "unknown (Temporal not reachable)"
            if lag is None
            else f"{lag}" + (" (GAP: over half)" if lag > half else "")
        ),
    ]
    emit(payload, "\n".join(lines))


async def _schedule_and_lag(now: datetime) -> tuple[datetime | None, timedelta | None]:
    from cxgov.audit.sync import archive_lag
    from cxgov.connection import connect
    from cxgov.schedules import RETENTION_SCHEDULE

    try:
        client = await connect(settings())
    except CxgovError:
        return None, None
    next_purge = None
    try:
        description = await client.get_schedule_handle(RETENTION_SCHEDULE).describe()
        upcoming = description.info.next_action_times
        next_purge = upcoming[0] if upcoming else None
    except Exception:  # no schedule yet: reported as such
        next_purge = None
    archive = _archive()
    try:
        lag, _missing = await archive_lag(client, archive, now=now)
    finally:
        archive.close()
    return next_purge, lag
