"""The `cxgov` command line. Every command prints one clear line on an expected error, never a traceback.

Exit codes: 0 ok, 2 bad input, 3 denied or refused, 1 any other error.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.exceptions import TyperException

from cxgov.charter import CharterCache, charter_gaps, load_charter
from cxgov.client import prepare_request
from cxgov.commands import artifacts, holds, interventions, migrate
from cxgov.commands import charter as charter_commands
from cxgov.commands import questions as governance
from cxgov.commands.audit import audit_app
from cxgov.commands.common import DENIED_EXIT, JsonOpt, command, emit, first_line, run_async, settings
from cxgov.commands.drills import drills_app
from cxgov.commands.keys import keys_app
from cxgov.commands.sandbox import sandbox_app
from cxgov.errors import BadRequest, CxgovError
from cxgov.frontdoor import ApiError, FrontDoor, credential
from cxgov.policy.params import check_action_id
from cxgov.wire import PendingApproval, Status

app = typer.Typer(
    name="cxgov",
    help="Governance for the actions agents take on behalf of customers: is it allowed (scope), can it be "
    "undone (reversibility), where is the record (auditability).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
charter_app = typer.Typer(
    help="The charter, the signed, written source of who may do what: check it, sign it, see its history and "
    "what changed, try a candidate in shadow.",
    no_args_is_help=True,
)
app.add_typer(charter_app, name="charter")
app.add_typer(audit_app, name="audit")
app.add_typer(drills_app, name="drills")
app.add_typer(keys_app, name="keys")
app.add_typer(sandbox_app, name="sandbox")

STATUS_EXIT = {
    Status.DENIED: DENIED_EXIT,
    Status.EXPIRED: DENIED_EXIT,
    Status.FAILED: 1,
    Status.COMPENSATED: 1,
    Status.COMPENSATION_FAILED: 1,
    Status.REVERSAL_FAILED: 1,
}


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadRequest(f"--param {pair!r} is not name=value", field="param")
        if name in params:
            raise BadRequest(f"--param {name} is given twice", field=name)
        params[name] = value
    return params


@app.command()
@command
def act(
    action: Annotated[str, typer.Argument(help="The charter action, e.g. refund, change_address.")],
    actor: Annotated[str, typer.Option(help="Who acts: an actor (support-bot) or a person (omar).")],
    customer: Annotated[str, typer.Option(help="The customer acted for, e.g. C-100.")],
    channel: Annotated[str, typer.Option(help="Where the request came from: chat, email, phone, batch ...")],
    reason: Annotated[str, typer.Option(help="Why: goes on the audit record (at most 2000 characters).")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="An action param as name=value; repeat for each.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the action to settle.", min=0)] = 30.0,
    action_id: Annotated[
        str | None, typer.Option(help="Idempotency key 'action-...': a retry with the same id joins the first.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a governed action on behalf of a customer.

    Prints {"action_id", "status", "decision": {"outcome", "rule", "reasons", "gap"}, "charter_version"} once
    the action is settled (completed, denied, awaiting_approval, ...) or after --wait seconds.
    Exit 0 completed or awaiting approval, 3 denied or expired, 2 bad input, 1 failed or compensated.
    """

    config = settings()
    # Bad input is rejected before any connection is made: it never waits on the network.
    params = _parse_params(param or [])
    request = prepare_request(
        charters=CharterCache(config.charter_path),
        actor=actor,
        action=action,
        customer=customer,
        channel=channel,
        reason=reason,
        params=params,
        action_id=action_id,
    )

    body = {
        "action": action,
        "customer": customer,
        "channel": channel,
        "reason": reason,
        "params": params,
        "action_id": request.action_id,
        "wait": wait,
        "actor": actor,
    }
    door = FrontDoor(config.api_url, credential(config, actor, who="--actor"))
    answer = run_async(door.call("POST", "/v1/actions", body=body, wait=wait))
    typer.echo(json.dumps(answer))
    code = STATUS_EXIT.get(Status(answer["status"]), 0)
    if code:
        raise typer.Exit(code)


@app.command()
@command
def status(
    action_id: Annotated[str, typer.Argument(help="The action id printed by `cxgov act` (action-...).")],
    person: Annotated[str | None, typer.Option("--as", help="Who asks (an actor sees only its own actions).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an action: status, decision, approvals (granted and refused), connector steps, reversal."""
    check_action_id(action_id)
    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    typer.echo(json.dumps(run_async(door.call("GET", f"/v1/actions/{action_id}"))))


@app.command()
@command
def approvals(
    person: Annotated[str | None, typer.Option("--as", help="Only what this person may decide now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List pending approvals: which action, ladder step, who may decide, and the deadline."""

    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    listed = run_async(door.call("GET", "/v1/approvals", all=None if person else "true", person=person))
    pending = [PendingApproval.model_validate(item) for item in listed["pending"]]
    unreadable = [str(action_id) for action_id in listed.get("unreadable", [])]
    lines = [_pending_line(item) for item in pending] or ["no pending approvals" + (f" for {person}" if person else "")]
    if unreadable:
        lines.append(
            f"{len(unreadable)} more awaiting approval did not answer in time (busy or stopped worker), "
            f"try again: {', '.join(unreadable)}"
        )
    emit({"pending": [item.model_dump(mode="json") for item in pending], "unreadable": unreadable}, "\n".join(lines))


def _pending_line(item: PendingApproval) -> str:
    amount = f" {item.amount}" if item.amount is not None else ""
    step = f"step {item.phase}/{item.phases} {item.role}" + (
        f" (covering {item.coverage_for})" if item.coverage_for else ""
    )
    deadline = item.deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{item.action_id}  {item.actor} {item.action}{amount} for {item.customer}  {step}  "
        f"may decide: {', '.join(item.eligible) or 'nobody'}  until {deadline}  digest {item.digest[:12]}"
    )


def _decide(verdict: str, action_id: str, person: str, reason: str, digest: str | None, wait: float) -> None:
    check_action_id(action_id)
    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    body = {"reason": reason, "digest": digest, "wait": wait, "person": person}
    try:
        payload = run_async(door.call("POST", f"/v1/actions/{action_id}/{verdict}", body=body, wait=wait))
    except ApiError as refused:
        if "accepted" not in refused.payload:
            raise
        payload = {key: refused.payload[key] for key in ("action_id", "accepted", "refusal", "status")}
    verb = "approved" if verdict == "approve" else "denied"
    text = (
        f"{person} {verb} {action_id}: {payload['status']}" if payload["accepted"] else f"refused: {payload['refusal']}"
    )
    emit(payload, text)
    if not payload["accepted"]:
        raise typer.Exit(DENIED_EXIT)


PersonOpt = Annotated[str, typer.Option("--as", help="The person deciding, as named in the charter.")]
ReasonOpt = Annotated[str, typer.Option(help="Why: goes on the audit record.")]
DigestOpt = Annotated[
    str | None, typer.Option(help="The digest you reviewed (from `cxgov approvals`); default: the pending one.")
]
WaitOpt = Annotated[float, typer.Option(min=0, help="Seconds to wait for the action to settle afterwards.")]


@app.command()
@command
def approve(
    action_id: Annotated[str, typer.Argument(help="The action awaiting approval.")],
    person: PersonOpt,
    reason: ReasonOpt,
    digest: DigestOpt = None,
    wait: WaitOpt = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Approve an escalated action. Refused (exit 3) unless you are on the current ladder step, are not the
    requester, and the amount is within your approve_limit."""
    _decide("approve", action_id, person, reason, digest, wait)


@app.command()
@command
def deny(
    action_id: Annotated[str, typer.Argument(help="The action awaiting approval.")],
    person: PersonOpt,
    reason: ReasonOpt,
    digest: DigestOpt = None,
    wait: WaitOpt = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Deny an escalated action. Refused (exit 3) unless you are on the current ladder step and not the requester."""
    _decide("deny", action_id, person, reason, digest, wait)


@app.command()
@command
def reverse(
    action_id: Annotated[str, typer.Argument(help="The completed action to undo.")],
    person: PersonOpt,
    reason: ReasonOpt,
    as_json: JsonOpt = False,
) -> None:
    """Undo a completed action, as a member of its reversal owner role.

    Refused (exit 3, with the charter's procedure) for irreversible actions, after the reversal window, or
    once the `until` event happened (a refund paid out, an order dispatched). Exit 1 if the undo failed
    verification (reversal_failed, raised to the owner role's coverage). A second request gets the first's
    result, never a second undo.
    """
    check_action_id(action_id)
    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    payload = run_async(
        door.call("POST", f"/v1/actions/{action_id}/reverse", body={"reason": reason, "person": person})
    )
    text = f"{action_id} {payload['status']} by {payload['by']}"
    if payload["error"]:
        text += f": {payload['error']}; raised to {', '.join(payload['escalated_to'])}"
    elif payload["steps"]:
        text += f": {payload['steps'][-1]['summary']}"
    emit(payload, text)
    if payload["status"] != Status.REVERSED.value:
        raise typer.Exit(1)


@charter_app.command("check")
@command
def charter_check(
    file: Annotated[Path | None, typer.Argument(help="Charter file; default CXGOV_CHARTER or the example.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a charter and list its gaps (exit 2 when it does not load)."""
    path = file or settings().charter_path
    charter = load_charter(path)
    gaps = charter_gaps(charter, today=datetime.now(UTC).date())
    header = f"{path}: charter {charter.charter} v{charter.version} loads; signed off by " + ", ".join(
        f"{s.function} ({s.by}, {s.on.isoformat()})" for s in charter.signoffs
    )
    lines = [header, f"{len(gaps)} gap(s)" + (":" if gaps else "")]
    lines += [f"  - [{gap.kind}] {gap.subject}: {gap.detail}" for gap in gaps]
    emit(
        {
            "file": str(path),
            "charter": charter.charter,
            "version": charter.version,
            "loads": True,
            "gaps": [gap.as_dict() for gap in gaps],
        },
        "\n".join(lines),
    )


@app.command()
@command
def up(
    sandbox: Annotated[
        Path | None, typer.Option(help="Seed the sandbox from this file (default: keep it, or seed the example).")
    ] = None,
    tour: Annotated[bool, typer.Option(help="Run the guided tour once the stack is up.")] = False,
) -> None:
    """Start the embedded stack: Temporal dev server, worker, the HTTP API (CXGOV_HTTP_ADDRESS) with a key file per
    actor and person in CXGOV_HOME/keys, the charter and its systems of record. Ctrl-C stops it.

    Nothing it starts outlives it, even when it is killed; started again on the same CXGOV_HOME, it stops a
    dev server an earlier run left behind and resumes every pending approval, timer, schedule and action
    in flight. One `cxgov up` per CXGOV_HOME: a second one exits 1."""
    from cxgov.stack import serve

    config = settings()
    when_ready = None
    if tour:
        from cxgov.demo import tour_when_ready

        when_ready = tour_when_ready(config)
    run_async(serve(config, seed=sandbox, say=typer.echo, when_ready=when_ready))


@app.command()
@command
def worker(
    sandbox: Annotated[Path | None, typer.Option(help="Seed the sandbox from this file first.")] = None,
    schedules: Annotated[
        bool, typer.Option(help="Also reconcile the audit and drill-<action> schedules with the charter at start.")
    ] = False,
) -> None:
    """Run only the worker, against the Temporal server at CXGOV_TEMPORAL_ADDRESS."""
    from cxgov.stack import serve

    run_async(serve(settings(), seed=sandbox, say=typer.echo, embedded_server=False, schedules=schedules))


@app.command()
@command
def serve() -> None:
    """Serve the HTTP API alone (the front door for agents, people and integrations), against
    CXGOV_TEMPORAL_ADDRESS, on CXGOV_HTTP_ADDRESS (default localhost:8000). Ctrl-C stops it.

    Every endpoint but /healthz needs Authorization: Bearer <token> (`cxgov keys issue`); OpenAPI at
    /openapi.json, docs at /docs.
    """
    from cxgov.api.serve import serve_api

    run_async(serve_api(settings(), say=typer.echo))


@app.command()
@command
def mcp() -> None:
    """Serve the Model Context Protocol over stdio for one agent (an IDE or a desktop agent starts it).

    The agent acts as whoever CXGOV_TOKEN proves (a key from `cxgov keys issue --actor NAME`); every call goes
    through the HTTP API at CXGOV_API_URL (default http://localhost:8000), checked like any other request. Its
    tools: one per charter action the key holds a grant for, named as the action, with the limits in the
    description, plus get_action and wait_for_action. In the MCP client's configuration:

    {"mcpServers": {"cxgov": {"command": "cxgov", "args": ["mcp"],
    "env": {"CXGOV_TOKEN": "cxgov_k..._...", "CXGOV_API_URL": "http://localhost:8000"}}}}

    Over HTTP instead, `cxgov up` and `cxgov serve` serve the same tools at /mcp (streamable HTTP; send
    Authorization: Bearer <key>). Exit 2 without CXGOV_TOKEN, 3 when the API refuses it, 1 when the API cannot
    be reached.
    """
    from cxgov.mcp.stdio import serve_stdio

    run_async(serve_stdio(settings(), say=lambda line: typer.echo(line, err=True)))


@app.command()
@command
def demo() -> None:
    """A guided tour against a running stack (`cxgov up`): allowed, escalated, denied, gap, saga."""
    from cxgov.demo import run_tour

    failures = run_async(run_tour(settings(), say=typer.echo))
    if failures:
        raise typer.Exit(1)


charter_app.command("history")(charter_commands.charter_history)
charter_app.command("diff")(charter_commands.charter_diff)
charter_app.command("sign")(charter_commands.charter_sign)
charter_app.command("shadow")(charter_commands.charter_shadow)
app.command()(governance.questions)
app.command()(governance.gaps)
app.command()(artifacts.diagram)
app.command()(artifacts.review)


app.add_typer(interventions.overrides_app, name="overrides")
app.command("freeze")(interventions.freeze)
app.command("unfreeze")(interventions.unfreeze)
app.command("freezes")(interventions.freezes)
app.command("override")(interventions.override)
audit_app.command("hold")(holds.hold)
audit_app.command("holds")(holds.holds)
audit_app.command("release")(holds.release)
audit_app.command("migrate")(migrate.migrate)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the command, flush, and exit with os._exit.

    A process that used a Temporal client can crash at interpreter exit (sdk-python#300); exiting
    immediately after flushing makes every exit clean and its code exact.
    """
    code = run(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, without exiting. Usage errors are one line too."""
    try:
        outcome = app(args=argv, prog_name="cxgov", standalone_mode=False)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except TyperException as usage:  # a usage error: unknown option, missing option, bad value
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        typer.echo(f"cxgov: {message} (see --help)", err=True)
        return int(getattr(usage, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("cxgov: interrupted", err=True)
        return 130
    except CxgovError as err:
        typer.echo(f"cxgov: {err.message}", err=True)
        return err.exit_code
    except Exception as err:  # an unexpected bug: still one line, and a non-zero code
        typer.echo(f"cxgov: internal error: {type(err).__name__}: {first_line(str(err))}", err=True)
        return 1
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    main()
