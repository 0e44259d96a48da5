"""The tools one principal sees: one per charter action it holds a grant for, plus get_action and wait_for_action.

An action tool is named as the action. Its input schema is the action's declared params (money as a decimal in
the charter's currency, lists as arrays of strings) plus `customer`, `channel` (an enum when the grant limits
channels), `reason` and an optional `action_id`. Its description states what the action does and this
principal's limits, so an agent knows before calling what will be done, what will wait for a person, and what
will be refused. Irreversible actions are annotated destructive.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mcp_types import Tool, ToolAnnotations

from cxgov.errors import BadRequest
from cxgov.mcp.grants import ApprovalTerms, Approver, GrantedAction, PrincipalGrants
from cxgov.wire import Status

GET_ACTION = "get_action"
WAIT_FOR_ACTION = "wait_for_action"
BUILT_IN = (GET_ACTION, WAIT_FOR_ACTION)
REQUEST_FIELDS = ("customer", "channel", "reason", "action_id")
"""What every action tool takes besides the action's params."""
MAX_WAIT = 300.0
DEFAULT_WAIT = 60.0
ACTION_ID_PATTERN = r"^action-[A-Za-z0-9-]{1,100}$"

ACTION_ID = {
    "type": "string",
    "pattern": ACTION_ID_PATTERN,
    "description": "The action id a governed tool answered with (action-...).",
}
ACTION_OUTPUT = {
    "type": "object",
    "description": "The action as the cxgov API answers it: id, status, decision (outcome, rule, reasons, gap), "
    "charter version; while awaiting approval, `pending` (role, eligible people, deadline).",
    "properties": {
        "action_id": {"type": "string"},
        "status": {"type": "string", "enum": [status.value for status in Status]},
        "decision": {"type": ["object", "null"]},
        "charter_version": {"type": ["integer", "null"]},
        "pending": {"type": "object"},
        "error": {"type": "string"},
        "escalated_to": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["action_id", "status"],
}


def tools_for(grants: PrincipalGrants) -> list[Tool]:
    """Every tool `grants`' principal may call: its granted actions, then get_action and wait_for_action.

    An action named like a built-in tool is left out rather than shadow it.
    """
    actions = [action_tool(granted, grants) for granted in grants.actions if granted.action not in BUILT_IN]
    return [*actions, get_action_tool(), wait_for_action_tool()]


def action_tool(granted: GrantedAction, grants: PrincipalGrants) -> Tool:
    """The tool for one granted action."""
    irreversible = not granted.reversal.reversible
    return Tool(
        name=granted.action,
        title=_title(granted),
        description=describe(granted, grants),
        input_schema=input_schema(granted, currency=grants.currency),
        output_schema=ACTION_OUTPUT,
        annotations=ToolAnnotations(
            title=_title(granted),
            read_only_hint=False,
            destructive_hint=irreversible,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )


def _title(granted: GrantedAction) -> str:
    return granted.summary or granted.action.replace("_", " ").capitalize()


def input_schema(granted: GrantedAction, *, currency: str) -> dict[str, Any]:
    """The JSON Schema of the tool's arguments.

    The declared params sit beside customer, channel and reason; if one of them shares a name with those, the
    params move into a `params` object instead, so no name ever means two things.
    """
    params = {name: _param_schema(name, kind, granted, currency=currency) for name, kind in granted.params.items()}
    channels = granted.grant.channels
    channel: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 100}
    if channels is not None:
        channel["enum"] = list(channels)
        channel["description"] = f"Where the request came from; this grant allows: {', '.join(channels)}."
    else:
        channel["description"] = "Where the request came from: chat, email, phone, batch ..."
    properties: dict[str, Any] = {
        "customer": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "The customer acted for (their id in the system of record), e.g. C-100.",
        },
        "channel": channel,
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "description": "Why, in a sentence: it goes on the audit record and to any approver.",
        },
    }
    required = ["customer", "channel", "reason"]
    if nests_params(granted):
        properties["params"] = {
            "type": "object",
            "properties": params,
            "required": list(params),
            "additionalProperties": False,
            "description": f"The params of {granted.action}.",
        }
        required.append("params")
    else:
        properties.update(params)
        required.extend(params)
    properties["action_id"] = {
        **ACTION_ID,
        "description": "Optional idempotency key (action-...): a retry with the same id joins the first request "
        "and never acts twice. Without it a new id is made, and the answer names it.",
    }
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def nests_params(granted: GrantedAction) -> bool:
    """Whether the action's params go in a `params` object (one of them is named like a request field)."""
    return any(name in REQUEST_FIELDS for name in granted.params)


def _param_schema(name: str, kind: str, granted: GrantedAction, *, currency: str) -> dict[str, Any]:
    if kind == "money":
        limits = []
        if granted.grant.max_amount is not None:
            limits.append(f"at most {_money(granted.grant.max_amount, currency)}")
        if granted.grant.approve_above is not None:
            limits.append(f"above {_money(granted.grant.approve_above, currency)} it waits for approval")
        shown = f" ({'; '.join(limits)})" if limits else ""
        return {
            "type": ["number", "string"],
            "pattern": r"^\d+(\.\d{1,2})?$",
            "minimum": 0,
            "description": f"An amount of money in {currency} as a decimal with at most two places, "
            f'e.g. 40 or "40.50"{shown}.',
        }
    if kind == "list":
        return {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "maxItems": 50,
            "description": f'The {name}: a list of names, e.g. ["name", "email"].',
        }
    return {"type": "string", "minLength": 1, "maxLength": 1000, "description": f"The {name} (text)."}


def describe(granted: GrantedAction, grants: PrincipalGrants) -> str:
    """What the action does, this principal's limits, who approves above them, whether it can be undone, and
    what the answers mean."""
    currency = grants.currency
    lines = [granted.summary.rstrip(".") + "." if granted.summary else f"The charter action {granted.action}."]
    blocked = _blocked(grants)
    if blocked:
        lines.append(f"Right now every request of yours is denied: {blocked}.")
    lines.append(
        f"Your limits ({grants.principal}, grant to {granted.grant.grantee}, charter "
        f"{grants.charter} v{grants.charter_version}): {'; '.join(_limits(granted, currency))}."
    )
    if granted.grant.require_approval or granted.grant.approve_above is not None:
        lines.append(f"Who approves: {_ladder(granted.approval, currency, money=granted.amount_param is not None)}.")
    lines.append(_undo(granted))
    lines.append(
        "Answers: done; denied, with the rule and reasons (an error: do not retry it unchanged); or waiting on "
        "approval, with the role, who may decide, until when, and the action id for wait_for_action."
    )
    return "\n".join(lines)


def _blocked(grants: PrincipalGrants) -> str:
    standing = grants.standing
    if standing.suspended:
        return f"{grants.principal} is suspended"
    if standing.overdue_since is not None:
        owner = f" (its owner {standing.owner} recertifies it)" if standing.owner else ""
        return f"{grants.principal} was due for recertification on {standing.overdue_since.isoformat()}{owner}"
    return ""


def _limits(granted: GrantedAction, currency: str) -> list[str]:
    grant = granted.grant
    limits: list[str] = []
    amount = granted.amount_param
    if amount is not None:
        ceiling = f"at most {_money(grant.max_amount, currency)}" if grant.max_amount is not None else "no maximum"
        limits.append(f"{amount} {ceiling}")
    if grant.require_approval:
        limits.append("every request waits for a person's approval")
    elif grant.approve_above is not None:
        limits.append(f"above {_money(grant.approve_above, currency)} it waits for a person's approval")
    limits.append(f"channels {', '.join(grant.channels)}" if grant.channels is not None else "any channel")
    if grant.segments is not None:
        limits.append(f"only customers in segments {', '.join(grant.segments)}")
    if granted.excluded_skus:
        limits.append(f"never for SKUs matching {', '.join(granted.excluded_skus)}")
    if grant.budget is not None:
        budget = grant.budget
        parts = [f"{budget.count} requests" if budget.count is not None else "", _money(budget.amount, currency)]
        limits.append(f"budget {' and '.join(part for part in parts if part)} per {budget.per}")
    if granted.preconditions:
        limits.append(f"checked first: {', '.join(granted.preconditions)}")
    return limits


def _ladder(approval: ApprovalTerms | None, currency: str, *, money: bool) -> str:
    """`support-lead (ana up to 1000 USD, ben up to 300 USD), then after 4h without an answer duty-manager (...)`."""
    if approval is None:
        return "nobody: the charter defines no approval ladder for it, so it is denied (rule 5-no-ladder)"
    steps = []
    for index, step in enumerate(approval.steps):
        people = ", ".join(_approver(approver, currency, money=money) for approver in step.people)
        who = f"{step.role} ({people or 'nobody'})"
        steps.append(who if index == 0 else f"then after {approval.step_timeout} without an answer {who}")
    return ", ".join(steps) + "; if nobody decides in time it is denied"


def _approver(approver: Approver, currency: str, *, money: bool) -> str:
    if not money:
        return approver.person
    if approver.approve_limit is None:
        return f"{approver.person} (approves no money)"
    return f"{approver.person} up to {_money(approver.approve_limit, currency)}"


def _undo(granted: GrantedAction) -> str:
    reversal = granted.reversal
    if not reversal.reversible:
        return f"Irreversible: once done it cannot be undone ({reversal.procedure})."
    owner = f" by {reversal.owner}" if reversal.owner else ""
    if reversal.kind == "window":
        return f"Can be undone{owner} within {reversal.window}."
    if reversal.kind == "until":
        return f"Can be undone{owner} until {reversal.until}."
    return f"Can be undone{owner}."


def _money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    shown = amount.quantize(Decimal(1)) if amount == amount.to_integral() else amount.normalize()
    return f"{shown} {currency}"


def get_action_tool() -> Tool:
    return Tool(
        name=GET_ACTION,
        title="Get an action",
        description="Where an action stands: done, denied and why, or waiting on whom until when. An agent "
        "sees only its own actions.",
        input_schema={
            "type": "object",
            "properties": {"action_id": ACTION_ID},
            "required": ["action_id"],
            "additionalProperties": False,
        },
        output_schema=ACTION_OUTPUT,
        annotations=ToolAnnotations(
            title="Get an action", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )


def wait_for_action_tool() -> Tool:
    return Tool(
        name=WAIT_FOR_ACTION,
        title="Wait for an action",
        description="Wait until an action is no longer running or awaiting approval (at most `seconds`, "
        f"{MAX_WAIT:.0f} at most), then say where it stands: done, denied and why, or still waiting on whom.",
        input_schema={
            "type": "object",
            "properties": {
                "action_id": ACTION_ID,
                "seconds": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_WAIT,
                    "default": DEFAULT_WAIT,
                    "description": f"How long to wait at most (default {DEFAULT_WAIT:.0f}, at most {MAX_WAIT:.0f}).",
                },
            },
            "required": ["action_id"],
            "additionalProperties": False,
        },
        output_schema=ACTION_OUTPUT,
        annotations=ToolAnnotations(
            title="Wait for an action", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )


def action_body(granted: GrantedAction, arguments: dict[str, Any], *, action_id: str) -> dict[str, Any]:
    """The `POST /v1/actions` body for a call of `granted`'s tool. Types and values are the API's to check.

    Raises:
        BadRequest: An argument the tool does not take, or a required one missing.
    """
    nested = nests_params(granted)
    allowed = {*REQUEST_FIELDS, *(("params",) if nested else granted.params)}
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise BadRequest(
            f"{granted.action} takes no argument {unknown[0]!r} (it takes: {', '.join(sorted(allowed))})",
            field=unknown[0],
        )
    for name in ("customer", "channel", "reason"):
        if name not in arguments:
            raise BadRequest(f"{granted.action} needs {name!r}", field=name)
    if nested:
        params = arguments.get("params", {})
        if not isinstance(params, dict):
            raise BadRequest(f"{granted.action}: 'params' must be an object", field="params")
    else:
        params = {name: arguments[name] for name in granted.params if name in arguments}
    return {
        "action": granted.action,
        "customer": arguments["customer"],
        "channel": arguments["channel"],
        "reason": arguments["reason"],
        "params": params,
        "action_id": action_id,
    }
