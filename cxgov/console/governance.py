"""The console's governance pages: drills, gaps, the three questions, the audit trail, and the charter.

Each reads through the HTTP API's own endpoint functions (`cxgov.api.routes`), called in process with the
session's principal instead of a bearer token, so the console shows exactly what `GET /v1/drills`,
`/v1/gaps`, `/v1/questions` and `/v1/audit` answer, with the same checks. The audit CSV link streams the API's
own export.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from cxgov.api import routes
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordPublic
from cxgov.charter import Charter
from cxgov.commands.common import filter_text, moment
from cxgov.console.door import ConsoleDep, FormDep, VisitorDep
from cxgov.console.render import ConsoleRoute, page
from cxgov.diagram import inline_svg, read_picture, render_svg, to_dot
from cxgov.errors import BadRequest, CxgovError
from cxgov.questions import actor_names, sqlite_file

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
AUDIT_ROWS = 200
"""The audit page shows the newest this many matching records; the download has them all."""
AUDIT_DEFAULT_SINCE = "7d"
Name = Annotated[str, Query(max_length=100)]


@router.get("/drills")
async def drills(request: Request, console: ConsoleDep, person: VisitorDep) -> Response:
    """Per reversible action: cadence, last run and result, last pass, next run; a run-now button each."""
    answer = await routes.drills(console.gate, person.principal)
    charter = console.gate.charters.get()
    return page(
        request,
        "drills.html",
        visitor=person,
        title="Reversal drills",
        rows=answer["drills"],
        max_age=charter.drills.max_age,
    )


@router.post("/drills/{action}/run")
async def run_drill(action: str, console: ConsoleDep, person: VisitorDep, form: FormDep) -> Response:
    """Run one drill now and come back with its result."""
    session = person.session
    try:
        result = await routes.run_drill(action[:100], console.gate, person.principal)
    except CxgovError as err:
        session.flash("error", err.message)
    else:
        if result["passed"]:
            session.flash("ok", f"The drill of {result['action']} passed.")
        else:
            why = result.get("reason") or "no reason recorded"
            session.flash("error", f"The drill of {result['action']} failed at {result.get('failing_step')}: {why}")
    return RedirectResponse("/drills", status_code=303)


@router.get("/gaps")
async def gaps(request: Request, console: ConsoleDep, person: VisitorDep) -> Response:
    """What is not governed, or no longer proven."""
    report = await routes.gaps(console.gate, person.principal)
    return page(request, "gaps.html", visitor=person, title="Gaps", report=report)


@router.get("/questions")
async def questions(request: Request, console: ConsoleDep, person: VisitorDep, actor: Name = "") -> Response:
    """Scope, reversibility and auditability, for each action of each actor (or of one)."""
    charter = console.gate.charters.get()
    answers: dict[str, Any] | None = None
    problem = None
    try:
        answers = await routes.questions(console.gate, person.principal, actor=actor or None)
    except BadRequest as err:
        problem = err.message
    return page(
        request,
        "questions.html",
        visitor=person,
        title="The three questions",
        status_code=422 if problem else 200,
        answers=answers,
        problem=problem,
        actor=actor,
        actor_names=actor_names(charter),
    )


@router.get("/audit")
async def audit(
    request: Request,
    console: ConsoleDep,
    person: VisitorDep,
    actor: Name = "",
    customer: Name = "",
    action: Name = "",
    status: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=40)] = AUDIT_DEFAULT_SINCE,
    until: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Search the audit archive: the newest matching records, and the whole result as CSV or JSON Lines."""
    charter = console.gate.charters.get()
    filters = {"actor": actor, "customer": customer, "action": action, "status": status, "since": since, "until": until}
    shown = {name: value for name, value in filters.items() if value}
    records: list[AuditRecordPublic] = []
    problem = None
    try:
        for name, value in (("actor", actor), ("customer", customer), ("action", action), ("status", status)):
            filter_text(value, option=name)
        now = datetime.now(UTC)
        start, end = moment(since or None, option="since", now=now), moment(until or None, option="until", now=now)
        records = await asyncio.to_thread(
            _newest, console.gate.settings.audit_url, actor, customer, action, status, start, end
        )
    except BadRequest as err:
        problem = err.message
    return page(
        request,
        "audit.html",
        visitor=person,
        title="Audit trail",
        status_code=422 if problem else 200,
        filters=filters,
        query=shown,
        records=records,
        problem=problem,
        limit=AUDIT_ROWS,
        actor_names=actor_names(charter),
        action_names=list(charter.actions),
        retention_days=charter.retention_days,
    )


@router.get("/audit/export")
async def audit_export(
    console: ConsoleDep,
    person: VisitorDep,
    actor: Name = "",
    customer: Name = "",
    action: Name = "",
    status: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    format: Literal["csv", "jsonl"] = "csv",
) -> Response:
    """The API's own export (`GET /v1/audit`), as a file download with the session instead of a bearer token."""
    response = await routes.audit(
        console.gate,
        person.principal,
        actor=actor or None,
        customer=customer or None,
        action=action or None,
        status=status or None,
        since=since or None,
        until=until or None,
        format=format,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    extension = "csv" if format == "csv" else "jsonl"
    response.headers["Content-Disposition"] = f'attachment; filename="cxgov-audit-{stamp}.{extension}"'
    return response


@router.get("/charter")
async def charter_page(request: Request, console: ConsoleDep, person: VisitorDep) -> Response:
    """The active charter on one page: version and sign-offs, people and roles, actors, actions, ladders, grants."""
    charter = console.gate.charters.get()
    today = datetime.now(UTC).date()
    ladders = {name: charter.ladder(name) for name in charter.actions}
    standing = {name: charter.standing(name, today=today) for name in charter.actors}
    roles = {name: charter.members(name) for name in charter.roles}
    diagram, diagram_problem = await asyncio.to_thread(_diagram, charter, console.gate.settings.audit_url)
    return page(
        request,
        "charter.html",
        visitor=person,
        title="Charter",
        charter=charter,
        ladders=ladders,
        standing=standing,
        roles=roles,
        drilled=charter.drilled_actions(),
        diagram=diagram,
        diagram_problem=diagram_problem,
    )


def _diagram(charter: Charter, audit_url: str) -> tuple[Markup | None, str | None]:
    """The one-page diagram as inline SVG (cleaned: drawing elements only), or why it cannot be drawn."""
    try:
        picture = read_picture(charter, audit_url=audit_url, now=datetime.now(UTC))
        return Markup(inline_svg(render_svg(to_dot(picture)))), None  # names escaped in the DOT, the SVG cleaned
    except CxgovError as err:
        return None, err.message


def _newest(
    url: str,
    actor: str,
    customer: str,
    action: str,
    status: str,
    since: datetime | None,
    until: datetime | None,
) -> list[AuditRecordPublic]:
    """The newest AUDIT_ROWS matching records, newest first (read streaming; no archive yet: none)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return []
    with AuditArchive(url) as archive:
        found = archive.query(
            actor=actor or None,
            customer=customer or None,
            action=action or None,
            status=status or None,
            since=since,
            until=until,
        )
        newest = deque(found, maxlen=AUDIT_ROWS)
    return list(reversed(newest))
