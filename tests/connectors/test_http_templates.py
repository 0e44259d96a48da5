"""The HTTP connector's templates and answers, and the checks on its configuration (pure, no server)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cxgov.connectors.http import _Unset, call_context, message_of, pick, render, render_body, same
from cxgov.connectors.http_config import HttpAction, HttpSystemConfig, literal_secrets
from cxgov.wire import ConnectorCall

CALL = ConnectorCall(
    action_id="action-1",
    action="refund",
    customer="C 100/x",
    params={"order_id": "O-1", "amount": Decimal("12.50"), "fields": ["name", "address"]},
    effect={"refund_id": "R-7"},
)


def test_templates_fill_in_encode_path_values_and_keep_types_in_bodies() -> None:
    context = call_context(CALL)
    assert render("/customers/{customer}", context, encode=True) == "/customers/C%20100%2Fx"
    assert render("/refunds/{effect.refund_id}/reverse", context) == "/refunds/R-7/reverse"
    body = render_body({"amount": "{params.amount}", "fields": "{params.fields}", "note": "for {customer}"}, context)
    assert body == {"amount": "12.50", "fields": ["name", "address"], "note": "for C 100/x"}


def test_a_template_naming_an_effect_never_recorded_is_unset() -> None:
    context = call_context(CALL.model_copy(update={"effect": None}))
    with pytest.raises(_Unset):
        render("/refunds/{effect.refund_id}", context)


def test_answers_are_read_by_dotted_path_and_numbers_compare_as_numbers() -> None:
    body: dict[str, Any] = {"lines": [{"sku": "A", "left": "40.00"}], "ok": True}
    assert pick(body, "lines.0.sku") == "A"
    assert pick(body, "lines.3.sku") is None and pick(body, "missing.path") is None
    assert pick(body, "$") is body
    assert same("40.00", 40) and not same(True, 1) and not same("open", "closed")


def test_a_refusal_carries_the_system_s_own_words() -> None:
    assert message_of(httpx.Response(409, json={"error": "order O-1 is already cancelled"})) == (
        "order O-1 is already cancelled"
    )
    assert message_of(httpx.Response(422, json={"detail": "amount must be positive"})) == "amount must be positive"
    assert message_of(httpx.Response(400, text="bad request\nmore")) == "bad request"
    assert message_of(httpx.Response(403)) == "403 Forbidden"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"url": "ftp://shop"}, "is not an http:// or https:// URL"),
        ({"sandbox_url": "http://shop"}, "sandbox_url is the live url"),
        ({"segment": {"path": "customers/{customer}"}}, "must start with /"),
        ({"segment": {"path": "/customers/{whoever}"}}, "unknown placeholder {whoever}"),
    ],
)
def test_a_system_configuration_that_cannot_work_is_refused(change: dict[str, Any], problem: str) -> None:
    config = {
        "url": "http://shop",
        "segment": {"path": "/customers/{customer}", "pick": "tier"},
        "actions": {"refund": {"execute": {"method": "POST", "path": "/r"}, "verify": {"path": "/r"}}},
    }
    with pytest.raises(ValidationError) as caught:
        HttpSystemConfig.model_validate({**config, **change})
    assert problem in str(caught.value)


def test_an_action_needs_a_write_to_execute_and_reads_with_expectations() -> None:
    with pytest.raises(ValidationError, match="execute must be a write"):
        HttpAction.model_validate({"execute": {"path": "/r"}, "verify": {"path": "/r"}})
    with pytest.raises(ValidationError, match="needs `expect`"):
        HttpAction.model_validate(
            {
                "execute": {"method": "POST", "path": "/r"},
                "verify": {"path": "/r"},
                "preconditions": {"open": {"path": "/o"}},
            }
        )


def test_secrets_written_into_the_file_are_found_before_expansion() -> None:
    raw = {"systems": {"shop": {"http": {"headers": {"Authorization": "Bearer abc", "X-Trace": "on"}}}}}
    assert literal_secrets(raw) == [("systems", "shop", "http", "headers", "Authorization")]
    raw["systems"]["shop"]["http"]["headers"]["Authorization"] = "Bearer ${SHOP_TOKEN}"
    assert literal_secrets(raw) == []
