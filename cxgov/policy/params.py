"""Rule 2: params must match what the action declares. Bad input is rejected before anything happens."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from cxgov.charter.models import Action
from cxgov.errors import BadRequest
from cxgov.wire import ActionRequest, ParamValue

MAX_PARAM_CHARS = 1000
MAX_LIST_ITEMS = 50


def validate_params(*, action_name: str, action: Action, params: dict[str, object]) -> dict[str, ParamValue]:
    """Coerce `params` to the action's declared types.

    Strings from a command line (`amount=40`, `fields=name,segment`) are accepted for money and lists.

    Raises:
        BadRequest: a param is missing, not declared, of the wrong type, or money is negative or not a number.
    """
    declared = action.params
    extra = sorted(set(params) - set(declared))
    if extra:
        raise BadRequest(
            f"{action_name} takes no param {extra[0]!r} (it takes: {', '.join(declared) or 'none'})",
            field=extra[0],
        )
    missing = [name for name in declared if name not in params]
    if missing:
        raise BadRequest(f"{action_name} needs param {missing[0]!r} ({declared[missing[0]]})", field=missing[0])
    typed: dict[str, ParamValue] = {}
    for name, kind in declared.items():
        value = params[name]
        if kind == "money":
            typed[name] = _money(name, value)
        elif kind == "list":
            typed[name] = _list(name, value)
        else:
            typed[name] = _string(name, value)
    return typed


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"param {name!r} must be a string, got {type(value).__name__}", field=name)
    text = value.strip()
    if not text:
        raise BadRequest(f"param {name!r} is empty", field=name)
    if len(text) > MAX_PARAM_CHARS:
        raise BadRequest(f"param {name!r} is {len(text)} characters; the limit is {MAX_PARAM_CHARS}", field=name)
    if any(ord(char) < 32 for char in text):
        raise BadRequest(f"param {name!r} contains control characters", field=name)
    return text


def _money(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise BadRequest(f"param {name!r} must be an amount of money, got {type(value).__name__}", field=name)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRequest(f"param {name!r} must be an amount of money, got {value!r}", field=name) from None
    if not amount.is_finite():
        raise BadRequest(f"param {name!r} must be a finite amount, got {value!r}", field=name)
    if amount < 0:
        raise BadRequest(f"param {name!r} must not be negative, got {value}", field=name)
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise BadRequest(f"param {name!r} has more than two decimal places: {value}", field=name)
    if amount > Decimal("1e12"):
        raise BadRequest(f"param {name!r} is implausibly large: {value}", field=name)
    return amount


def _list(name: str, value: object) -> list[str]:
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.split(",")]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise BadRequest(f"param {name!r} must be a list, got {type(value).__name__}", field=name)
    if not items or len(items) > MAX_LIST_ITEMS:
        raise BadRequest(f"param {name!r} needs 1 to {MAX_LIST_ITEMS} items", field=name)
    return [_string(f"{name}[{index}]", item) for index, item in enumerate(items)]


MAX_REASON_CHARS = 2000
MAX_NAME_CHARS = 100


def check_request_shape(*, actor: str, action: str, customer: str, channel: str, reason: str) -> None:
    """Reject malformed identifiers and reasons before anything starts.

    Raises:
        BadRequest: a field is empty, too long, or has characters an identifier may not have.
    """
    for field, value in (("actor", actor), ("action", action), ("customer", customer), ("channel", channel)):
        if not value or not value.strip():
            raise BadRequest(f"{field} is empty", field=field)
        if len(value) > MAX_NAME_CHARS:
            raise BadRequest(f"{field} is {len(value)} characters; the limit is {MAX_NAME_CHARS}", field=field)
        if any(ord(char) < 33 or char in "\"'\\`" for char in value):
            raise BadRequest(f"{field} {value[:40]!r} has spaces, quotes or control characters", field=field)
    if not reason.strip():
        raise BadRequest("reason is empty: say why the customer needs this", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise BadRequest(f"reason is {len(reason)} characters; the limit is {MAX_REASON_CHARS}", field="reason")
    if "\x00" in reason:
        raise BadRequest("reason contains a NUL character", field="reason")


MAX_PARAMS = 20
ACTION_ID_BODY = 100


def check_action_id(action_id: str) -> None:
    """An action id is `action-` followed by at most 100 characters of letters, digits and dashes.

    Raises:
        BadRequest: anything else.
    """
    shown = action_id[:60]
    body = action_id.removeprefix("action-")
    if body == action_id:
        raise BadRequest(f"action id {shown!r} must start with 'action-'", field="action_id")
    if not body or len(body) > ACTION_ID_BODY or not all(char.isalnum() or char == "-" for char in body):
        raise BadRequest(
            f"action id {shown!r}: after 'action-' come 1 to 100 letters, digits or dashes", field="action_id"
        )


def request_problem(request: ActionRequest, *, workflow_id: str) -> str | None:
    """Why a request that reached a workflow is malformed, or None: the workflow checks every field itself, so
    that no request, however it was started, becomes an oversized history or skips a check."""
    try:
        check_action_id(request.action_id)
        check_request_shape(
            actor=request.actor,
            action=request.action,
            customer=request.customer,
            channel=request.channel,
            reason=request.reason,
        )
        if request.action_id != workflow_id:
            raise BadRequest(f"action id {request.action_id[:60]!r} is not the workflow id {workflow_id[:60]!r}")
        if len(request.params) > MAX_PARAMS:
            raise BadRequest(f"{len(request.params)} params; the limit is {MAX_PARAMS}")
        for name, value in request.params.items():
            if not name or len(name) > MAX_NAME_CHARS:
                raise BadRequest(f"param name {name[:40]!r} is empty or longer than {MAX_NAME_CHARS} characters")
            items = value if isinstance(value, list) else [value]
            if len(items) > MAX_LIST_ITEMS or any(len(str(item)) > MAX_PARAM_CHARS for item in items):
                raise BadRequest(f"param {name!r} is longer than the limit")
    except BadRequest as err:
        return err.message
    return None


def person_problem(person: str, reason: str) -> str | None:
    """Why a person's name or reason (an approval, a reversal) is malformed, or None."""
    try:
        check_request_shape(actor=person, action="decision", customer="-", channel="-", reason=reason)
    except BadRequest as err:
        return err.message.replace("actor", "person")
    return None
