"""`cxgov sandbox`: the sandbox system of record's events, faults and world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxgov.commands.common import JsonOpt, command, emit, settings
from cxgov.errors import BadRequest

sandbox_app = typer.Typer(
    help="The sandbox system of record: simulate events (dispatch, payout), inject faults, reseed.",
    no_args_is_help=True,
)


OrderArg = Annotated[str, typer.Argument(help="The order id, e.g. O-1001.")]


@sandbox_app.command("dispatch")
@command
def sandbox_dispatch(order: OrderArg, as_json: JsonOpt = False) -> None:
    """The order leaves the warehouse: address changes on it stop being reversible."""
    from cxgov.sandbox import Sandbox

    box = Sandbox(settings().sandbox_path)
    try:
        summary = box.dispatch(order=order)
    finally:
        box.close()
    emit({"order": order, "event": "dispatch", "summary": summary}, summary)


@sandbox_app.command("payout")
@command
def sandbox_payout(order: OrderArg, as_json: JsonOpt = False) -> None:
    """Pending refunds on the order are paid out: they stop being reversible."""
    from cxgov.sandbox import Sandbox

    box = Sandbox(settings().sandbox_path)
    try:
        summary = box.payout(order=order)
    finally:
        box.close()
    emit({"order": order, "event": "payout", "summary": summary}, summary)


@sandbox_app.command("fault")
@command
def sandbox_fault(
    action: Annotated[str, typer.Argument(help="The action whose connector misbehaves, e.g. book_appointment.")],
    step: Annotated[str, typer.Argument(help="verify | compensate | execute | pause | pause-compensate")],
    times: Annotated[int, typer.Option(min=1, help="How many calls the fault affects.")] = 1,
    delay: Annotated[
        float, typer.Option(min=0, help="Seconds `pause` sleeps after the effect (`pause-compensate`: after the undo).")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Inject a connector fault, to watch the saga compensate (verify) or fail to (compensate), or to hold a step
    open after its effect is committed (pause, pause-compensate) and kill the worker there.

    A test tool: refused (exit 3) when CXGOV_SYSTEMS routes any action to a system that is not the built-in
    sandbox."""
    from cxgov.sandbox import Sandbox
    from cxgov.sandbox.faults import FAULT_STEPS
    from cxgov.sandbox.guard import tool_sandbox

    if step not in FAULT_STEPS:
        raise BadRequest(f"step {step!r} is not one of {', '.join(FAULT_STEPS)}", field="step")
    box = Sandbox(tool_sandbox(settings(), tool="sandbox fault"))
    try:
        box.connector(action)
        box.add_fault(action=action, step=step, times=times, delay_seconds=delay)
    finally:
        box.close()
    pauses = {
        "pause": f"execute pauses {delay}s after its effect",
        "pause-compensate": f"compensate pauses {delay}s after its undo",
    }
    text = pauses.get(step, f"the next {times} {step} call(s) of {action} will fail")
    emit({"action": action, "step": step, "times": times, "delay": delay}, text)


@sandbox_app.command("load")
@command
def sandbox_load(
    file: Annotated[Path, typer.Argument(help="A seed file in the format of examples/sandbox.yaml.")],
    as_json: JsonOpt = False,
) -> None:
    """Replace the sandbox world with the one in FILE (validated first: a bad file changes nothing).

    A test tool: refused (exit 3) when CXGOV_SYSTEMS routes any action to a system that is not the built-in
    sandbox."""
    from cxgov.sandbox import Sandbox
    from cxgov.sandbox.guard import tool_sandbox

    box = Sandbox(tool_sandbox(settings(), tool="sandbox load"))
    try:
        summary = box.load_world(seed=file)
    finally:
        box.close()
    emit({"file": str(file), "summary": summary.summary()}, summary.summary())
