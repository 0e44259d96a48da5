"""`cxgov freeze|unfreeze|freezes` (the kill switch) and `cxgov override|overrides` (break-glass), through the
HTTP API with the person's own credential."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cxgov.commands.common import DENIED_EXIT, JsonOpt, command, emit, run_async, settings
from cxgov.frontdoor import FrontDoor, credential
from cxgov.policy.params import check_action_id
from cxgov.wire import Status

PersonOpt = Annotated[str, typer.Option("--as", help="The person acting, as named in the charter.")]
ReasonOpt = Annotated[str, typer.Option(help="Why: goes on the audit record.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Freeze one actor (or person acting as an agent).")]
ActionOpt = Annotated[str | None, typer.Option("--action", help="Freeze one action, for every actor.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Freeze every actor and action.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Whose key to use (default: a person's key file).")]

overrides_app = typer.Typer(
    help="Break-glass overrides: list them, and review one (someone other than the person who made it).",
    no_args_is_help=True,
)


def _door(person: str | None) -> FrontDoor:
    config = settings()
    return FrontDoor(config.api_url, credential(config, person, who="--as"))


def _freeze_body(actor: str | None, action: str | None, everything: bool, reason: str, person: str) -> dict[str, Any]:
    return {"actor": actor, "action": action, "all": everything, "reason": reason, "person": person}


@command
def freeze(
    person: PersonOpt,
    reason: ReasonOpt,
    actor: ActorOpt = None,
    action: ActionOpt = None,
    everything: AllOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Kill switch: deny every request of an actor, an action, or everything, from the next decision on.

    Actions of the scope that wait on an approval end denied too (rule 0-frozen). Name exactly one of --actor, --action, --all. Only people in the
    charter's freeze_roles (exit 3 otherwise). Durable until `cxgov unfreeze`; audited and notified."""
    body = _freeze_body(actor, action, everything, reason, person)
    outcome = run_async(_door(person).call("POST", "/v1/freezes", body=body))
    shown = _scope_shown(outcome["freeze"]["scope"])
    text = f"{shown} frozen by {outcome['freeze']['frozen_by']}: new requests are denied (0-frozen)"
    if outcome["ended"]:
        text += f"; ended while waiting for approval: {', '.join(outcome['ended'])}"
    if outcome["missed"]:
        text += f"; not reached now (they re-check before executing): {'; '.join(outcome['missed'])}"
    emit(outcome, text)


@command
def unfreeze(
    person: PersonOpt,
    reason: ReasonOpt,
    actor: ActorOpt = None,
    action: ActionOpt = None,
    everything: AllOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Lift the freeze of one scope.

    Name the scope as it was frozen (--actor, --action or --all). Only people in the charter's freeze_roles;
    exit 2 when that scope is not frozen."""
    body = _freeze_body(actor, action, everything, reason, person)
    outcome = run_async(_door(person).call("POST", "/v1/freezes/lift", body=body))
    lifted = outcome["freeze"]
    emit(outcome, f"{_scope_shown(lifted['scope'])} unfrozen by {lifted['lifted_by']}: {lifted['lift_reason']}")


@command
def freezes(
    history: Annotated[bool, typer.Option("--history", help="Every freeze ever set, lifted ones too.")] = False,
    person: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The freezes in force: scope, who froze it, when and why."""
    found = run_async(_door(person).call("GET", "/v1/freezes", history=str(history).lower()))
    lines = []
    for item in found["freezes"]:
        line = f"{_scope_shown(item['scope'])}: frozen by {item['frozen_by']} at {item['frozen_at']}: {item['reason']}"
        if item["lifted_at"]:
            line += f" (lifted by {item['lifted_by']} at {item['lifted_at']}: {item['lift_reason']})"
        lines.append(line)
    emit(found, "\n".join(lines) or "nothing is frozen")


@command
def override(
    action_id: Annotated[str, typer.Argument(help="The denied action to let through.")],
    person: PersonOpt,
    reason: ReasonOpt,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the re-run to settle.")] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Break-glass: let one denied request proceed, as a person in the charter's override_roles.

    It runs again as ACTION_ID-override, decided afresh, and the denial becomes an allow (rule 0-override) within your
    own approve_limit. Never for a gap, a frozen scope, an excluded SKU, a false precondition, your own request
    or a person's denial (exit 3, nothing started). Flagged in `gaps` until someone else reviews it."""
    check_action_id(action_id)
    body = {"reason": reason, "person": person, "wait": wait}
    outcome = run_async(_door(person).call("POST", f"/v1/actions/{action_id}/override", body=body, wait=wait))
    action = outcome["action"]
    decision = action.get("decision") or {}
    text = (
        f"{action_id} overridden by {outcome['override']['person']}: {action['action_id']} {action['status']} "
        f"({decision.get('rule')}: {'; '.join(decision.get('reasons', []))})"
    )
    emit(outcome, text)
    if action["status"] in (Status.DENIED.value, Status.EXPIRED.value):
        raise typer.Exit(DENIED_EXIT)


@overrides_app.command("list")
@command
def overrides_list(
    unreviewed: Annotated[bool, typer.Option("--unreviewed", help="Only those nobody reviewed yet.")] = False,
    person: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every break-glass override: who, which rule it overrode, why, and who reviewed it."""
    found = run_async(_door(person).call("GET", "/v1/overrides", unreviewed=str(unreviewed).lower()))
    lines = []
    for item in found["overrides"]:
        review = (
            f"reviewed by {item['reviewed_by']}: {item['review_reason']}" if item["reviewed_by"] else "NOT REVIEWED"
        )
        lines.append(
            f"{item['action_id']}: {item['person']} overrode {item['rule']} ({item['actor']} {item['action']} for "
            f"{item['customer']}) at {item['at']}: {item['reason']}; {review}"
        )
    emit(found, "\n".join(lines) or "no overrides")


@overrides_app.command("review")
@command
def overrides_review(
    action_id: Annotated[str, typer.Argument(help="The overridden action (the denied one).")],
    person: PersonOpt,
    reason: ReasonOpt,
    as_json: JsonOpt = False,
) -> None:
    """Review an override (someone other than the person who made it); it then leaves `gaps`.

    The reviewer is in the charter's override or freeze roles."""
    check_action_id(action_id)
    body = {"reason": reason, "person": person}
    reviewed = run_async(_door(person).call("POST", f"/v1/overrides/{action_id}/review", body=body))
    emit(reviewed, f"override of {action_id} reviewed by {reviewed['reviewed_by']}: {reviewed['review_reason']}")


def _scope_shown(scope: dict[str, Any]) -> str:
    return "every actor and action" if scope["kind"] == "all" else f"{scope['kind']} {scope['name']}"
