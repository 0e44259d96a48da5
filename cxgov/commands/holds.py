"""`cxgov audit hold|holds|release`: legal holds on audit records, through the HTTP API as the calling person."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cxgov.commands.common import JsonOpt, command, emit, run_async, settings
from cxgov.frontdoor import FrontDoor, credential

AsOpt = Annotated[str | None, typer.Option("--as", help="The person acting (default: CXGOV_TOKEN's principal).")]
ReasonOpt = Annotated[str, typer.Option(help="Why: goes on the audit record (a case number, a request).")]


def _door(person: str | None) -> FrontDoor:
    config = settings()
    return FrontDoor(config.api_url, credential(config, person, who="--as"))


def shown(hold: dict[str, Any]) -> str:
    line = f"{hold['id']}: {hold['kind']} {hold['name']} held by {hold['placed_by']} at {hold['placed_at']}: {hold['reason']}"
    if hold["released_at"]:
        line += f" (released by {hold['released_by']} at {hold['released_at']}: {hold['release_reason']})"
    return line


@command
def hold(
    reason: ReasonOpt,
    customer: Annotated[str | None, typer.Option(help="Hold every record about this customer.")] = None,
    actor: Annotated[str | None, typer.Option(help="Hold every record of this actor or person.")] = None,
    person: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Legal hold: retention never purges the records of this customer or actor (past and future) until the hold
    is released. Any person may place one; it is recorded on the audit chain. Name exactly one of --customer,
    --actor."""
    body = {"customer": customer, "actor": actor, "reason": reason, "person": person}
    placed = run_async(_door(person).call("POST", "/v1/audit/holds", body=body))
    emit(placed, f"placed {shown(placed)}: retention keeps these records until the hold is released")


@command
def holds(
    every: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    person: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The legal holds in force (with --all, released ones too)."""
    found = run_async(_door(person).call("GET", "/v1/audit/holds", all=str(every).lower()))
    emit(found, "\n".join(shown(item) for item in found["holds"]) or "no legal holds")


@command
def release(
    hold_id: Annotated[str, typer.Argument(help="The hold, as `cxgov audit holds` lists it (hold-...).")],
    reason: ReasonOpt,
    person: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Release a legal hold, as a person in the charter's hold_roles (exit 3 otherwise): retention may then purge
    those records once they are past retention_days. Recorded on the audit chain."""
    body = {"reason": reason, "person": person}
    released = run_async(_door(person).call("POST", f"/v1/audit/holds/{hold_id}/release", body=body))
    emit(released, f"released {shown(released)}")
