"""Who may reverse what, until when: `decide_reversal` and the charter model it reads, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cxgov.charter import Charter, load_charter
from cxgov.policy import decide_reversal
from cxgov.settings import EXAMPLES
from cxgov.wire import ActionRequest, ActionState, Status

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def charter() -> Charter:
    return load_charter(EXAMPLES / "charter.yaml")


def completed(action: str, *, settled: datetime = NOW, status: Status = Status.COMPLETED) -> ActionState:
    request = ActionRequest(
        action_id="action-r", actor="support-bot", action=action, customer="C-100", channel="chat", reason="r"
    )
    return ActionState(action_id="action-r", status=status, request=request, settled_at=settled)


def test_the_owner_role_may_reverse_and_failures_go_to_its_coverage(charter: Charter) -> None:
    verdict = decide_reversal(charter, action=completed("refund"), person="farid", now=NOW)
    assert verdict.refusal is None
    assert (verdict.owner_role, verdict.until, verdict.escalate_to) == ("finance-ops", "payout", ["carla"])
    assert verdict.procedure == "Claw the refund back before the payout runs"


@pytest.mark.parametrize(
    ("action", "person", "settled", "status", "refusal"),
    [
        (
            "refund",
            "ana",
            NOW,
            Status.COMPLETED,
            "ana is not in refund's reversal owner role finance-ops (who may reverse: farid)",
        ),
        ("refund", "farid", NOW, Status.DENIED, "action action-r is denied: only a completed action can be reversed"),
        (
            "share_customer_data",
            "ana",
            NOW,
            Status.COMPLETED,
            "share_customer_data is irreversible; procedure: Ask the",
        ),
        (
            "cancel_order",
            "ana",
            NOW - timedelta(hours=25),
            Status.COMPLETED,
            "cancel_order's reversal window closed at",
        ),
        (
            "close_account",
            "ana",
            NOW,
            Status.COMPLETED,
            "action close_account is not in charter v3: nobody may reverse it",
        ),
    ],
)
def test_refusals_name_why_and_carry_the_procedure(
    charter: Charter, action: str, person: str, settled: datetime, status: Status, refusal: str
) -> None:
    verdict = decide_reversal(charter, action=completed(action, settled=settled, status=status), person=person, now=NOW)
    assert verdict.refusal is not None and verdict.refusal.startswith(refusal)


def test_a_window_still_open_is_allowed(charter: Charter) -> None:
    verdict = decide_reversal(
        charter, action=completed("cancel_order", settled=NOW - timedelta(hours=23)), person="ben", now=NOW
    )
    assert verdict.refusal is None and verdict.until is None


def test_the_ladder_as_it_runs_lists_each_role_then_its_coverage(charter: Charter) -> None:
    ladder = charter.ladder("refund")
    assert ladder is not None
    assert [(phase.role, phase.covering) for phase in ladder] == [
        ("support-lead", None),
        ("duty-manager", "support-lead"),
    ]
    assert ladder[0].approvers == (("ana", Decimal("1000")), ("ben", Decimal("300")))
    assert charter.ladder("book_appointment") is None


def test_standing_says_who_may_not_act_today(charter: Charter) -> None:
    today = date(2026, 11, 27)
    assert not charter.standing("support-bot", today=today).blocked
    overdue = charter.standing("insights-partner", today=today)
    assert (overdue.blocked, overdue.overdue_since, overdue.owner) == (True, date(2026, 6, 1), "ana")
    assert not charter.standing("ana", today=today).blocked
    assert charter.active_members("support-lead") == ["ana", "ben"]
    assert charter.coverage("finance-ops") == "duty-manager"
