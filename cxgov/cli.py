"""The `cxgov` command line. Every command prints one clear line on an expected error, never a traceback.

Exit codes: 0 ok, 2 bad input, 3 denied or refused, 1 any other error.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from typer.exceptions import TyperException

from cxgov.charter import CharterCache, charter_gaps, load_charter
from cxgov.client import CxgovClient, prepare_request
from cxgov.commands.audit import audit_app
from cxgov.errors import BadRequest, CxgovError
from cxgov.settings import Settings
from cxgov.wire import ActionState, PendingApproval, ReversalState, Status

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    name="cxgov",
    help="Governance for the actions agents take on behalf of customers: is it allowed (scope), can it be "
    "undone (reversibility), where is the record (auditability).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
charter_app = typer.Typer(
    help="Check the charter: the signed, written source of who may do what.", no_args_is_help=True
)
sandbox_app = typer.Typer(
    help="The sandbox system of record: simulate events (dispatch, payout), inject faults, reseed.",
    no_args_is_help=True,
)
app.add_typer(charter_app, name="charter")
app.add_typer(audit_app, name="audit")
app.add_typer(sandbox_app, name="sandbox")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DENIED_EXIT = 3
STATUS_EXIT = {
    Status.DENIED: DENIED_EXIT,
    Status.EXPIRED: DENIED_EXIT,
    Status.FAILED: 1,
    Status.COMPENSATED: 1,
    Status.COMPENSATION_FAILED: 1,
    Status.REVERSAL_FAILED: 1,
}


class _Output:
    json = False


def _emit(payload: dict[str, Any], text: str | None = None) -> None:
    if _Output.json or text is None:
        typer.echo(json.dumps(payload, default=str))
    else:
        typer.echo(text)


def command(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn expected errors into one line (or one JSON object) and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        _Output.json = bool(kwargs.get("as_json", False))
        try:
            return fn(*args, **kwargs)
        except CxgovError as err:
            if _Output.json:
                typer.echo(json.dumps({"error": err.message, "exit_code": err.exit_code}))
            else:
                typer.echo(f"cxgov: {err.message}", err=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _settings() -> Settings:
    return Settings()


def _action_json(state: ActionState, *, full: bool = False) -> dict[str, Any]:
    decision = state.decision
    body: dict[str, Any] = {
        "action_id": state.action_id,
        "status": state.status.value,
        "decision": (
            {"outcome": decision.outcome.value, "rule": decision.rule, "reasons": decision.reasons, "gap": decision.gap}
            if decision is not None
            else None
        ),
        "charter_version": state.charter_version,
    }
    if state.pending is not None:
        body["pending"] = state.pending.model_dump(mode="json")
    if state.error:
        body["error"] = state.error
    if state.escalated_to:
        body["escalated_to"] = state.escalated_to
    if full:
        body["request"] = state.request.model_dump(mode="json")
        body["approvals"] = [record.model_dump(mode="json") for record in state.approvals]
        body["steps"] = [step.model_dump(mode="json") for step in state.steps]
        body["digest"] = state.digest
        body["reversal"] = state.reversal
    return body


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

    settings = _settings()
    # Bad input is rejected before any connection is made: it never waits on the network.
    request = prepare_request(
        charters=CharterCache(settings.charter_path),
        actor=actor,
        action=action,
        customer=customer,
        channel=channel,
        reason=reason,
        params=_parse_params(param or []),
        action_id=action_id,
    )

    async def go() -> ActionState:
        client = await CxgovClient.connect(settings)
        return await client.act(request, wait=wait)

    state = _run(go())
    typer.echo(json.dumps(_action_json(state)))
    code = STATUS_EXIT.get(state.status, 0)
    if code:
        raise typer.Exit(code)


@app.command()
@command
def status(
    action_id: Annotated[str, typer.Argument(help="The action id printed by `cxgov act` (action-...).")],
    as_json: JsonOpt = False,
) -> None:
    """Show an action: status, decision, approvals (granted and refused), connector steps, reversal."""

    async def go() -> ActionState:
        client = await CxgovClient.connect(_settings())
        return await client.status(action_id)

    state = _run(go())
    typer.echo(json.dumps(_action_json(state, full=True)))


@app.command()
@command
def approvals(
    person: Annotated[str | None, typer.Option("--as", help="Only what this person may decide now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List pending approvals: which action, ladder step, who may decide, and the deadline."""

    async def go() -> list[PendingApproval]:
        client = await CxgovClient.connect(_settings())
        return await client.pending(person=person)

    pending = _run(go())
    lines = [_pending_line(item) for item in pending] or ["no pending approvals" + (f" for {person}" if person else "")]
    _emit({"pending": [item.model_dump(mode="json") for item in pending]}, "\n".join(lines))


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


def _decide(verdict: str, action_id: str, person: str, reason: str, digest: str | None) -> None:
    async def go() -> Any:
        client = await CxgovClient.connect(_settings())
        return await client.decide(
            action_id,
            verdict="approve" if verdict == "approve" else "deny",
            person=person,
            reason=reason,
            digest=digest,
        )

    result = _run(go())
    payload = {
        "action_id": action_id,
        "accepted": result.accepted,
        "refusal": result.refusal,
        "status": result.status.value,
    }
    verb = "approved" if verdict == "approve" else "denied"
    _emit(payload, f"{person} {verb} {action_id}" if result.accepted else f"refused: {result.refusal}")
    if not result.accepted:
        raise typer.Exit(DENIED_EXIT)


PersonOpt = Annotated[str, typer.Option("--as", help="The person deciding, as named in the charter.")]
ReasonOpt = Annotated[str, typer.Option(help="Why: goes on the audit record.")]
DigestOpt = Annotated[
    str | None, typer.Option(help="The digest you reviewed (from `cxgov approvals`); default: the pending one.")
]


@app.command()
@command
def approve(
    action_id: Annotated[str, typer.Argument(help="The action awaiting approval.")],
    person: PersonOpt,
    reason: ReasonOpt,
    digest: DigestOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve an escalated action. Refused (exit 3) unless you are on the current ladder step, are not the
    requester, and the amount is within your approve_limit."""
    _decide("approve", action_id, person, reason, digest)


@app.command()
@command
def deny(
    action_id: Annotated[str, typer.Argument(help="The action awaiting approval.")],
    person: PersonOpt,
    reason: ReasonOpt,
    digest: DigestOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny an escalated action. Refused (exit 3) unless you are on the current ladder step and not the requester."""
    _decide("deny", action_id, person, reason, digest)


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

    async def go() -> ReversalState:
        client = await CxgovClient.connect(_settings())
        return await client.reverse(action_id, person=person, reason=reason)

    state = _run(go())
    payload = {
        "action_id": action_id,
        "reversal_id": state.reversal_id,
        "status": state.status.value,
        "by": state.request.person,
        "steps": [step.model_dump(mode="json") for step in state.steps],
        "error": state.error,
        "escalated_to": state.escalated_to,
    }
    text = f"{action_id} {state.status.value} by {state.request.person}" + (
        f": {state.error}; raised to {', '.join(state.escalated_to)}" if state.error else ""
    )
    _emit(payload, text)
    if state.status != Status.REVERSED:
        raise typer.Exit(1)


@charter_app.command("check")
@command
def charter_check(
    file: Annotated[Path | None, typer.Argument(help="Charter file; default CXGOV_CHARTER or the example.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a charter and list its gaps (exit 2 when it does not load)."""
    path = file or _settings().charter_path
    charter = load_charter(path)
    gaps = charter_gaps(charter, today=datetime.now(UTC).date())
    header = f"{path}: charter {charter.charter} v{charter.version} loads; signed off by " + ", ".join(
        f"{s.function} ({s.by}, {s.on.isoformat()})" for s in charter.signoffs
    )
    lines = [header, f"{len(gaps)} gap(s)" + (":" if gaps else "")]
    lines += [f"  - [{gap.kind}] {gap.subject}: {gap.detail}" for gap in gaps]
    _emit(
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
    """Start the embedded stack: Temporal dev server, worker, charter and sandbox. Ctrl-C stops it."""
    from cxgov.stack import serve

    settings = _settings()
    when_ready = None
    if tour:
        from cxgov.demo import tour_when_ready

        when_ready = tour_when_ready(settings)
    _run(serve(settings, seed=sandbox, say=typer.echo, when_ready=when_ready))


@app.command()
@command
def worker(
    sandbox: Annotated[Path | None, typer.Option(help="Seed the sandbox from this file first.")] = None,
) -> None:
    """Run only the worker, against the Temporal server at CXGOV_TEMPORAL_ADDRESS."""
    from cxgov.stack import serve

    _run(serve(_settings(), seed=sandbox, say=typer.echo, embedded_server=False))


@app.command()
@command
def demo() -> None:
    """A guided tour against a running stack (`cxgov up`): allowed, escalated, denied, gap, saga."""
    from cxgov.demo import run_tour

    failures = _run(run_tour(_settings(), say=typer.echo))
    if failures:
        raise typer.Exit(1)


OrderArg = Annotated[str, typer.Argument(help="The order id, e.g. O-1001.")]


@sandbox_app.command("dispatch")
@command
def sandbox_dispatch(order: OrderArg, as_json: JsonOpt = False) -> None:
    """The order leaves the warehouse: address changes on it stop being reversible."""
    from cxgov.sandbox import Sandbox

    box = Sandbox(_settings().sandbox_path)
    try:
        summary = box.dispatch(order=order)
    finally:
        box.close()
    _emit({"order": order, "event": "dispatch", "summary": summary}, summary)


@sandbox_app.command("payout")
@command
def sandbox_payout(order: OrderArg, as_json: JsonOpt = False) -> None:
    """Pending refunds on the order are paid out: they stop being reversible."""
    from cxgov.sandbox import Sandbox

    box = Sandbox(_settings().sandbox_path)
    try:
        summary = box.payout(order=order)
    finally:
        box.close()
    _emit({"order": order, "event": "payout", "summary": summary}, summary)


FAULT_STEPS = ("verify", "compensate", "execute", "pause")


@sandbox_app.command("fault")
@command
def sandbox_fault(
    action: Annotated[str, typer.Argument(help="The action whose connector misbehaves, e.g. book_appointment.")],
    step: Annotated[str, typer.Argument(help="verify | compensate | execute | pause")],
    times: Annotated[int, typer.Option(min=1, help="How many calls the fault affects.")] = 1,
    delay: Annotated[float, typer.Option(min=0, help="Seconds `pause` sleeps after the effect.")] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Inject a connector fault, to watch the saga compensate (verify) or fail to (compensate)."""
    from cxgov.sandbox import Sandbox

    if step not in FAULT_STEPS:
        raise BadRequest(f"step {step!r} is not one of {', '.join(FAULT_STEPS)}", field="step")
    box = Sandbox(_settings().sandbox_path)
    try:
        box.connector(action)
        box.add_fault(action=action, step=step, times=times, delay_seconds=delay)
    finally:
        box.close()
    text = f"the next {times} {step} call(s) of {action} will fail" if step != "pause" else f"execute pauses {delay}s"
    _emit({"action": action, "step": step, "times": times, "delay": delay}, text)


@sandbox_app.command("load")
@command
def sandbox_load(
    file: Annotated[Path, typer.Argument(help="A seed file in the format of examples/sandbox.yaml.")],
    as_json: JsonOpt = False,
) -> None:
    """Replace the sandbox world with the one in FILE (validated first: a bad file changes nothing)."""
    from cxgov.sandbox import Sandbox

    box = Sandbox(_settings().sandbox_path)
    try:
        summary = box.load_world(seed=file)
    finally:
        box.close()
    _emit({"file": str(file), "summary": summary.summary()}, summary.summary())


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
        typer.echo(f"cxgov: internal error: {type(err).__name__}: {err}", err=True)
        return 1
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    main()
