"""Decision semantics, rules 1-6, on the reference charter (unchanged) and small variations of it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cxgov.charter import Charter, load_charter
from cxgov.errors import BadRequest
from cxgov.policy import DrillState, Facts, decide, digest
from cxgov.settings import EXAMPLES
from cxgov.wire import ActionRequest, Outcome

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def charter() -> Charter:
    return load_charter(EXAMPLES / "charter.yaml")


def request(action: str = "refund", actor: str = "support-bot", channel: str = "chat", **params: Any) -> ActionRequest:
    if action == "refund" and not params:
        params = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
    return ActionRequest(
        action_id="action-test",
        actor=actor,
        action=action,
        customer="C-100",
        channel=channel,
        reason="test",
        params=params,
    )


def refund(amount: str, sku: str = "JACKET-BLK-L", **kwargs: Any) -> ActionRequest:
    return request("refund", **kwargs, order_id="O-1001", sku=sku, amount=amount)


STANDARD = Facts(segment="standard")


@pytest.mark.parametrize(
    ("amount", "outcome", "rule"),
    [
        ("40", Outcome.ALLOW, "6-allow"),
        ("50", Outcome.ALLOW, "6-allow"),
        ("50.01", Outcome.ESCALATE, "5-approve-above"),
        ("120", Outcome.ESCALATE, "5-approve-above"),
        ("200", Outcome.ESCALATE, "5-approve-above"),
        ("250", Outcome.DENY, "4-max-amount"),
    ],
)
def test_support_bot_refund_bands(charter: Charter, amount: str, outcome: Outcome, rule: str) -> None:
    decision = decide(charter, refund(amount), STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule, decision.gap) == (outcome, rule, False)
    assert decision.charter_version == 3
    assert decision.reasons and all(isinstance(reason, str) and reason for reason in decision.reasons)


@pytest.mark.parametrize("amount", ["0", "1", "12", "999"])
@pytest.mark.parametrize("sku", ["FINAL-SOCKS-3P", "GIFT-CARD-50"])
def test_excluded_sku_is_denied_whatever_the_amount(charter: Charter, amount: str, sku: str) -> None:
    decision = decide(charter, refund(amount, sku=sku), STANDARD, today=TODAY)
    assert decision.outcome == Outcome.DENY
    assert decision.rule == "4-excluded-sku"
    assert sku in decision.reasons[0]


def test_excluded_sku_is_denied_for_people_too(charter: Charter) -> None:
    decision = decide(charter, refund("5", sku="FINAL-SOCKS-3P", actor="omar"), STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "4-excluded-sku")


def test_vip_customer_segment_comes_from_facts_and_is_denied(charter: Charter) -> None:
    decision = decide(charter, refund("40"), Facts(segment="vip"), today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "4-segment")
    assert "'vip'" in decision.reasons[0]
    assert decide(charter, refund("40"), Facts(segment="gold"), today=TODAY).outcome == Outcome.ALLOW


def test_unknown_customer_is_denied(charter: Charter) -> None:
    decision = decide(charter, refund("40"), Facts(segment=None), today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "4-unknown-customer")


def test_channel_phone_is_denied(charter: Charter) -> None:
    decision = decide(charter, refund("40", channel="phone"), STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "4-channel")
    assert "'phone'" in decision.reasons[0]


def test_all_rule4_reasons_are_listed(charter: Charter) -> None:
    decision = decide(charter, refund("250", sku="FINAL-X", channel="phone"), Facts(segment="vip"), today=TODAY)
    assert decision.rule == "4-excluded-sku"
    assert len(decision.reasons) == 4


def test_insights_partner_is_denied_for_overdue_recertification(charter: Charter) -> None:
    req = request("share_customer_data", actor="insights-partner", recipient="insights-partner-inc", fields=["name"])
    decision = decide(charter, req, STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule, decision.gap) == (Outcome.DENY, "3-actor-not-certified", False)
    assert "2026-06-01" in decision.reasons[0]


def test_insights_partner_escalates_while_certified(charter: Charter) -> None:
    req = request("share_customer_data", actor="insights-partner", recipient="insights-partner-inc", fields=["name"])
    decision = decide(charter, req, STANDARD, today=date(2026, 5, 1))
    assert (decision.outcome, decision.rule) == (Outcome.ESCALATE, "5-require-approval")


def test_action_nobody_granted_is_a_gap(charter: Charter) -> None:
    req = request("share_customer_data", recipient="insights-partner-inc", fields=["name"])
    decision = decide(charter, req, STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule, decision.gap) == (Outcome.DENY, "1-no-grant", True)


@pytest.mark.parametrize(("actor", "action"), [("mallory", "refund"), ("support-bot", "close_account")])
def test_unknown_actor_or_action_is_a_gap(charter: Charter, actor: str, action: str) -> None:
    decision = decide(charter, request(action, actor=actor), STANDARD, today=TODAY)
    assert (decision.outcome, decision.rule, decision.gap) == (Outcome.DENY, "1-no-grant", True)
    assert "unknown" in decision.reasons[0]


def test_person_acts_under_their_role_grants(charter: Charter) -> None:
    assert decide(charter, refund("300", actor="omar", channel="phone"), STANDARD, today=TODAY).outcome == Outcome.ALLOW
    escalated = decide(charter, refund("301", actor="omar"), STANDARD, today=TODAY)
    assert (escalated.outcome, escalated.rule) == (Outcome.ESCALATE, "5-approve-above")
    assert decide(charter, refund("1001", actor="omar"), STANDARD, today=TODAY).rule == "4-max-amount"
    # ana is a support-lead: no grant lets her refund.
    assert decide(charter, refund("10", actor="ana"), STANDARD, today=TODAY).gap is True


def test_returns_sync_only_on_batch(charter: Charter) -> None:
    assert decide(charter, refund("500", actor="returns-sync", channel="batch"), STANDARD, today=TODAY).outcome == (
        Outcome.ALLOW
    )
    assert decide(charter, refund("40", actor="returns-sync", channel="chat"), STANDARD, today=TODAY).rule == (
        "4-channel"
    )


def test_false_precondition_denies(charter: Charter) -> None:
    req = request("change_address", order_id="O-1002", address="1 New St")
    facts = Facts(segment="gold", blockers=["precondition not_dispatched is false: order O-1002 was dispatched"])
    decision = decide(charter, req, facts, today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "4-precondition")
    assert "not_dispatched" in decision.reasons[0]


def test_booking_is_allowed_on_any_channel(charter: Charter) -> None:
    req = request("book_appointment", channel="phone", clinic="north", slot="2026-12-01T09:00")
    assert decide(charter, req, STANDARD, today=TODAY).outcome == Outcome.ALLOW


def test_drill_state_seam_escalates_or_denies_without_a_ladder(charter: Charter) -> None:
    stale = Facts(segment="standard", drill=DrillState(stale_reason="last drill failed"))
    assert decide(charter, refund("40"), stale, today=TODAY).rule == "5-drill"
    req = request("book_appointment", clinic="north", slot="2026-12-01T09:00")
    decision = decide(charter, req, stale, today=TODAY)
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "5-no-ladder")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order_id": "O-1001", "sku": "TEE-RED-M"}, "needs param 'amount'"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40", "tip": "5"}, "no param 'tip'"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "-1"}, "must not be negative"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "forty"}, "must be an amount of money"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "NaN"}, "finite"),
        ({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "1.001"}, "two decimal places"),
        ({"order_id": 1001, "sku": "TEE-RED-M", "amount": "40"}, "must be a string"),
        ({"order_id": "", "sku": "TEE-RED-M", "amount": "40"}, "is empty"),
    ],
)
def test_bad_params_are_rejected_as_bad_input(charter: Charter, params: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decide(charter, request("refund", **params), STANDARD, today=TODAY)


def test_rule1_precedes_rule2(charter: Charter) -> None:
    decision = decide(charter, request("close_account", nonsense="x"), STANDARD, today=TODAY)
    assert decision.gap is True


def test_money_params_are_typed(charter: Charter) -> None:
    from cxgov.policy import screen

    screened = screen(charter, refund("40.50"), today=TODAY)
    assert not isinstance(screened, type(None))
    assert screened.amount == Decimal("40.50")  # type: ignore[union-attr]


def test_digest_changes_with_what_is_approved() -> None:
    base = refund("120")
    assert digest(base, charter_version=3) == digest(refund("120"), charter_version=3)
    assert digest(base, charter_version=3) != digest(refund("121"), charter_version=3)
    assert digest(base, charter_version=3) != digest(base, charter_version=4)


def test_decide_is_pure(charter: Charter) -> None:
    first = decide(charter, refund("120"), STANDARD, today=TODAY)
    assert all(decide(charter, refund("120"), STANDARD, today=TODAY) == first for _ in range(5))
