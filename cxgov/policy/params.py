"""Rule 2: params must match what the action declares. Bad input is rejected before anything happens."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

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
            f"{action_name} takes no param {_cut(extra[0])!r} (it takes: {', '.join(declared) or 'none'})",
            field=extra[0][:MAX_NAME_CHARS],
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
        amount = Decimal(value) if isinstance(value, int) else Decimal(str(value).strip())  # str() refuses huge ints
    except InvalidOperation:
        raise BadRequest(
            f"param {name!r} must be an amount of money, got {_shown(value, quoted=True)}", field=name
        ) from None
    if not amount.is_finite():
        raise BadRequest(f"param {name!r} must be a finite amount, got {_shown(value, quoted=True)}", field=name)
    if amount < 0:
        raise BadRequest(f"param {name!r} must not be negative, got {_shown(value)}", field=name)
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise BadRequest(f"param {name!r} has more than two decimal places: {_shown(value)}", field=name)
    if amount > Decimal("1e12"):
        raise BadRequest(f"param {name!r} is implausibly large: {_shown(value)}", field=name)
    if amount.is_zero():
        amount = amount.copy_abs()  # "-0" is zero, never a negative amount
    if amount.as_tuple().exponent > 0:  # type: ignore[operator]
        amount = amount.quantize(Decimal(1))  # "1E+2" is written 100
    return amount


def _cut(text: str) -> str:
    """`text` as an error message quotes it: at most 40 characters."""
    return text if len(text) <= 40 else f"{text[:40]}..."


def _shown(value: object, *, quoted: bool = False) -> str:
    """A value as an error message quotes it (its repr when `quoted`), at most 40 characters."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return "a number of over 300 digits"  # str() of a huge int is refused (and unreadable anyway)
    return _cut(repr(value) if quoted else str(value))


def check_param_values(params: dict[str, Any]) -> dict[str, ParamValue]:
    """Params as a caller sent them (a JSON object, `-p name=value` pairs), checked for shape before the charter
    types them: at most MAX_PARAMS, short names, and each value text, a number or a list of text.

    Numbers become their text (`40` -> "40"), so that the charter's type decides what they mean (and says what is
    wrong with `NaN` or `1e400`).

    Raises:
        BadRequest: anything else, naming the param.
    """
    if len(params) > MAX_PARAMS:
        raise BadRequest(f"{len(params)} params; the limit is {MAX_PARAMS}", field="params")
    checked: dict[str, ParamValue] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            raise BadRequest(
                f"param name {_cut(str(name))!r} is empty or longer than {MAX_NAME_CHARS} characters", field="params"
            )
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise BadRequest(f"param {name!r} must be a list of text", field=name)
            checked[name] = list(value)
        elif isinstance(value, str):
            checked[name] = value
        elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            checked[name] = _number_text(name, value)
        else:
            raise BadRequest(f"param {name!r} must be text, a number or a list, got {type(value).__name__}", field=name)
    return checked


def _number_text(name: str, value: int | float | Decimal) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # more digits than any amount; str() may even refuse
        raise BadRequest(f"param {name!r} is implausibly large", field=name)
    return str(value)


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
