"""Property: an action request's params either match what the charter declares, typed (money a finite, non-negative
amount with at most two decimals; text non-empty and bounded; lists of 1 to 50 such texts), or are refused with one
BadRequest naming the param. Nothing else leaves the check, whatever a caller sends (JSON, `-p name=value`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from harness import CHARTER
from hypothesis import given
from hypothesis import strategies as st
from propkit import PROPERTIES, assert_one_clear_line, deep_junk, huge_texts, junk, texts

from cxgov.charter import CharterCache, load_charter
from cxgov.client import prepare_request
from cxgov.errors import BadRequest
from cxgov.policy.params import MAX_LIST_ITEMS, MAX_PARAM_CHARS, validate_params
from cxgov.wire import ActionRequest

REFERENCE = load_charter(CHARTER)
CHARTERS = CharterCache(CHARTER)

money_like = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=0, max_value=10**6, places=2).map(str),
    st.floats(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from(
        [
            "40",
            "40.5",
            "40.50",
            "40.505",
            "-40",
            "-0",
            "0",
            "1E+2",
            "1e-2",
            "1e400",
            "NaN",
            "sNaN",
            "-Infinity",
            "1,000",
            " 40 ",
            "٣",
            "0x10",
            "1_000",
            "4" * 5000,
            10**5000,
            -(10**5000),
            Decimal("sNaN"),
            Decimal("1E+999999"),
        ]
    ),
)
"""What a caller may send as an amount: numbers in every form, numbers as text, and text that only looks like one."""
param_value = st.one_of(money_like, texts, huge_texts, junk, deep_junk, st.lists(texts, max_size=60))


@st.composite
def params_for(draw: st.DrawFn, action: str) -> dict[str, Any]:
    """The action's declared params with some dropped, some given generated values, and some unknown ones added."""
    declared = REFERENCE.actions[action].params
    params: dict[str, Any] = {name: draw(param_value) for name in declared if draw(st.integers(0, 9)) > 0}
    for name in draw(st.lists(st.one_of(texts, huge_texts, st.sampled_from(list(declared))), max_size=3)):
        params[name] = draw(param_value)
    return params


actions_and_params = st.sampled_from(sorted(REFERENCE.actions)).flatmap(
    lambda action: st.tuples(st.just(action), params_for(action))
)


def assert_typed(action: str, typed: dict[str, Any]) -> None:
    declared = REFERENCE.actions[action].params
    assert set(typed) == set(declared)
    for name, kind in declared.items():
        value = typed[name]
        if kind == "money":
            assert isinstance(value, Decimal) and value.is_finite() and not value.is_signed()
            assert value.as_tuple().exponent in (0, -1, -2), value  # never "1E+2": an amount prints as digits
        elif kind == "list":
            assert isinstance(value, list) and 1 <= len(value) <= MAX_LIST_ITEMS
            assert all(isinstance(item, str) and 0 < len(item) <= MAX_PARAM_CHARS for item in value)
        else:
            assert isinstance(value, str) and 0 < len(value) <= MAX_PARAM_CHARS
            assert not any(ord(char) < 32 for char in value)


@PROPERTIES
@given(case=actions_and_params)
def test_params_are_typed_by_the_charter_or_refused_with_one_bad_request(case: tuple[str, dict[str, Any]]) -> None:
    action, params = case
    try:
        typed = validate_params(action_name=action, action=REFERENCE.actions[action], params=params)
    except BadRequest as err:
        assert_one_clear_line(err.message)
        assert err.field is not None and len(err.field) <= 120
        return
    assert_typed(action, dict(typed))


@PROPERTIES
@given(
    case=actions_and_params,
    customer=st.one_of(st.just("C-100"), texts, huge_texts),
    channel=st.one_of(st.just("chat"), texts),
    reason=st.one_of(st.just("arrived damaged"), texts, huge_texts),
    action_id=st.one_of(st.none(), st.just("action-1"), texts, huge_texts, st.sampled_from(["action-", "action-a b"])),
)
def test_a_request_is_built_checked_or_refused_before_anything_starts(
    case: tuple[str, dict[str, Any]], customer: str, channel: str, reason: str, action_id: str | None
) -> None:
    """What the API and `cxgov act` call before starting a workflow: a request (its params typed when the actor
    holds a grant) or one BadRequest. The workflow is started only with what this returns."""
    action, params = case
    try:
        request = prepare_request(
            charters=CHARTERS,
            actor="support-bot",
            action=action,
            customer=customer,
            channel=channel,
            reason=reason,
            params=params,
            action_id=action_id,
        )
    except BadRequest as err:
        assert_one_clear_line(err.message)
        return
    assert isinstance(request, ActionRequest)
    ActionRequest.model_validate_json(request.model_dump_json())  # it crosses the Temporal wire as JSON
    if REFERENCE.grant_for(actor="support-bot", roles=[], action=action) is not None:
        assert_typed(action, dict(request.params))


def test_amounts_that_are_not_plain_money_are_refused_by_name() -> None:
    refund = REFERENCE.actions["refund"]
    cases = {
        "-40": "must not be negative",
        "40.505": "more than two decimal places",
        "NaN": "finite amount",
        "1e400": "implausibly large",
        10**5000: "implausibly large",
        "1,000": "must be an amount of money",
        True: "must be an amount of money, got bool",
    }
    for amount, problem in cases.items():
        try:
            validate_params(
                action_name="refund", action=refund, params={"order_id": "O-1", "sku": "S", "amount": amount}
            )
        except BadRequest as err:
            assert problem in err.message and err.field == "amount", err.message
        else:
            raise AssertionError(f"amount {str(amount)[:20]!r} was accepted")
    typed = validate_params(
        action_name="refund", action=refund, params={"order_id": "O-1", "sku": "S", "amount": "1E+2"}
    )
    assert str(typed["amount"]) == "100"
    typed = validate_params(action_name="refund", action=refund, params={"order_id": "O-1", "sku": "S", "amount": "-0"})
    assert str(typed["amount"]) == "0"


def test_a_huge_number_or_a_list_of_numbers_is_one_clear_error_before_any_workflow() -> None:
    for params, problem in [
        ({"order_id": 10**5000, "sku": "S", "amount": "1"}, "param 'order_id' is implausibly large"),
        ({"order_id": "O-1", "sku": "S", "amount": [1, 2]}, "param 'amount' must be a list of text"),
        ({f"p{n}": "x" for n in range(21)}, "21 params; the limit is 20"),
        ({"x" * 5000: "1"}, "param name 'xxxxxxxx"),
    ]:
        try:
            prepare_request(
                charters=CHARTERS,
                actor="support-bot",
                action="refund",
                customer="C-100",
                channel="chat",
                reason="r",
                params=params,
            )
        except BadRequest as err:
            assert err.message.startswith(problem) and len(err.message) < 200, err.message
        else:
            raise AssertionError(f"{problem}: accepted")
