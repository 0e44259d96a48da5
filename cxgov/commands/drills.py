"""`cxgov drills`: reversal drill schedules, their results, drills on demand, and their sign-off.

Signing is an act of a person: `drills sign` goes through the HTTP API with that person's credential
(CXGOV_TOKEN, or the key file of `--as`), and the API records the credential's principal, never the name typed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cxgov.charter import Charter, load_charter
from cxgov.charter.models import format_duration
from cxgov.commands.common import JsonOpt, command, emit, run_async, settings
from cxgov.drills import drill_schedule_id
from cxgov.drills.ledger import DrillLedger, stale_reason
from cxgov.drills.signatures import DrillSignatures, counted
from cxgov.errors import BadRequest
from cxgov.frontdoor import FrontDoor, credential

drills_app = typer.Typer(
    help="Reversal drills: each reversible action's undo, proven on a sandbox fixture on a schedule.",
    no_args_is_help=True,
)


def drill_rows(
    charter: Charter,
    ledger: DrillLedger,
    *,
    now: datetime,
    next_runs: dict[str, Any],
    signatures: DrillSignatures | None = None,
) -> list[dict[str, Any]]:
    """Per reversible action: cadence, last run and result, last pass, next run, overdue, and who signed the last
    pass (`signed_by`, `signed_at`: the newest signature of the latest passing drill by a member of the reversal
    owner role, within 90 days; None otherwise)."""
    rows = []
    for action, every in charter.drilled_actions().items():
        drills = ledger.drills(action=action)
        latest, last_pass = drills.latest, drills.last_pass
        stale = stale_reason(drills, max_age=charter.drills.max_age, now=now)
        signed = None
        if signatures is not None and last_pass is not None:
            of_pass = [s for s in signatures.signatures(action=action) if s.drill_id == last_pass.drill_id]
            signed = counted(charter, action, of_pass, now=now)
        rows.append(
            {
                "action": action,
                "schedule": drill_schedule_id(action),
                "every": format_duration(every),
                "last_run": latest.finished if latest else None,
                "result": None
                if latest is None
                else ("passed" if latest.passed else f"failed at {latest.failing_step}"),
                "reason": latest.reason if latest is not None and not latest.passed else None,
                "last_pass": last_pass.finished if last_pass else None,
                "next_run": next_runs.get(action),
                "overdue": stale is not None,
                "why": stale,
                "signed_by": signed.person if signed is not None else None,
                "signed_at": signed.signed_at if signed is not None else None,
            }
        )
    return rows


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


@drills_app.command("list")
@command
def drills_list(as_json: JsonOpt = False) -> None:
    """Per action: cadence, last run, result, last pass, next run, and who signed the last pass; OVERDUE when
    the last pass is older than drills.max_age, the last drill failed, or it never passed."""
    config = settings()
    charter = load_charter(config.charter_path)
    next_runs = run_async(_next_runs(charter))
    ledger = DrillLedger(config.audit_url)
    signatures = DrillSignatures(config.audit_url)
    try:
        rows = drill_rows(charter, ledger, now=datetime.now(UTC), next_runs=next_runs, signatures=signatures)
    finally:
        signatures.close()
        ledger.close()
    lines = [f"reversal drills (charter {charter.charter} v{charter.version}, max_age {charter.drills.max_age.days}d)"]
    for row in rows:
        flag = "  OVERDUE" if row["overdue"] else ""
        signed = f"by {row['signed_by']} {_when(row['signed_at'])}" if row["signed_by"] else "-"
        lines.append(
            f"  {row['action']:<18} every {row['every']:<5} last run {_when(row['last_run'])}  "
            f"result {row['result'] or '-'}  last pass {_when(row['last_pass'])}  "
            f"next {_when(row['next_run']) if row['next_run'] else 'no schedule'}  signed {signed}{flag}"
        )
        if row["reason"]:
            lines.append(f"      failed: {row['reason']}")
    emit({"drills": rows}, "\n".join(lines))


async def _next_runs(charter: Charter) -> dict[str, Any]:
    from cxgov.connection import connect
    from cxgov.errors import CxgovError
    from cxgov.schedules import next_drill_runs

    try:
        client = await connect(settings())
    except CxgovError:
        return {}
    return await next_drill_runs(client, charter)


@drills_app.command("sync")
@command
def drills_sync(as_json: JsonOpt = False) -> None:
    """Create, update and delete drill-<action> schedules to match the charter, and print what changed."""
    from cxgov.connection import connect
    from cxgov.schedules import sync_drill_schedules

    config = settings()
    charter = load_charter(config.charter_path)

    async def go() -> list[str]:
        client = await connect(config)
        return await sync_drill_schedules(client, charter, task_queue=config.task_queue)

    changes = run_async(go())
    emit({"changes": changes}, "\n".join(changes) or "nothing to change")


@drills_app.command("run")
@command
def drills_run(
    action: Annotated[str, typer.Argument(help="The reversible action to drill now, e.g. refund.")],
    as_json: JsonOpt = False,
) -> None:
    """Run one reversal drill now and wait for its result (exit 1 when it fails)."""
    from cxgov.client import CxgovClient
    from cxgov.wire import DrillResult

    config = settings()
    charter = load_charter(config.charter_path)
    if action not in charter.drilled_actions():
        known = ", ".join(charter.drilled_actions())
        raise BadRequest(f"{action!r} is not a reversible action of charter v{charter.version} (drilled: {known})")

    async def go() -> DrillResult:
        client = await CxgovClient.connect(config)
        return await client.run_drill(action)

    result = run_async(go())
    steps = ", ".join(f"{step.step} {'ok' if step.ok else 'FAILED'}" for step in result.steps)
    text = (
        f"drill of {action}: PASSED ({steps})"
        if result.passed
        else f"drill of {action}: FAILED at {result.failing_step}: {result.reason}"
    )
    emit(result.model_dump(mode="json"), text)
    if not result.passed:
        raise typer.Exit(1)


@drills_app.command("sign")
@command
def drills_sign(
    action: Annotated[str, typer.Argument(help="The reversible action whose latest passing drill you sign.")],
    person: Annotated[
        str, typer.Option("--as", help="The person signing: an active member of the action's reversal owner role.")
    ],
    reason: Annotated[str, typer.Option(help="What you checked before signing: goes on the audit record.")],
    as_json: JsonOpt = False,
) -> None:
    """Sign the latest passing drill of ACTION as PERSON, with PERSON's credential: a named human vouches that
    the undo was tested. Only members of the action's reversal owner role sign (exit 3 otherwise); refused
    (exit 3) when no drill passed or the last pass is older than 90 days. Signing the same drill again answers
    the first signature. A reversible action without such a signature within 90 days is a gap (`cxgov gaps`)."""
    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    body = {"reason": reason, "person": person}
    signed = run_async(door.call("POST", f"/v1/drills/{quote(action, safe='')}/signatures", body=body))
    finished = datetime.fromisoformat(signed["drill_finished"])
    emit(
        signed,
        f"{signed['person']} signed the drill of {signed['action']} that passed {_when(finished)} "
        f"({signed['drill_id']}) at {_when(datetime.fromisoformat(signed['signed_at']))}, via {signed['via']}",
    )
