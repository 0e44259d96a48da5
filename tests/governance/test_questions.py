"""The three governance questions, answered from the reference charter, a drill ledger and an audit archive."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from govkit import NOW, Archived, drill

from cxgov.answers import ActionAnswer, GovernanceAnswers
from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter
from cxgov.drills.ledger import DrillLedger
from cxgov.errors import BadRequest
from cxgov.questions import PRECONDITION_MEANING, Trail, answer_questions
from cxgov.settings import shown_url

TRAIL = Trail(
    namespace="cx-prod",
    temporal_address="temporal.internal:7233",
    ui="http://temporal.internal:8233",
    archive_url="postgresql://audit:s3cret@db.internal/audit",
)


def answer(
    charter: Charter,
    *,
    ledger: DrillLedger | None = None,
    archive: AuditArchive | None = None,
    actor: str | None = None,
    now: datetime = NOW,
) -> GovernanceAnswers:
    return answer_questions(charter, trail=TRAIL, ledger=ledger, archive=archive, now=now, actor=actor)


def action_of(answers: GovernanceAnswers, actor: str, action: str) -> ActionAnswer:
    (found,) = [a for who in answers.actors if who.actor == actor for a in who.actions if a.action == action]
    return found


def test_every_actor_and_person_is_answered_with_the_actions_granted(charter: Charter) -> None:
    answers = answer(charter)

    granted = {who.actor: [a.action for a in who.actions] for who in answers.actors}
    assert granted == {
        "support-bot": ["refund", "change_address", "cancel_order", "book_appointment"],
        "returns-sync": ["refund"],
        "insights-partner": ["share_customer_data"],
        "ana": [],
        "ben": [],
        "carla": [],
        "farid": [],
        "dana": [],
        "omar": ["refund", "cancel_order"],
        "priya": ["refund", "cancel_order"],
    }
    kinds = {who.actor: who.kind for who in answers.actors}
    assert kinds["support-bot"] == "ai_agent" and kinds["omar"] == "person"
    assert action_of(answers, "omar", "refund").scope.grant == "role tier1"
    assert action_of(answers, "support-bot", "refund").scope.grant == "actor support-bot"
    assert (answers.charter, answers.version) == ("acme-retail", 3)
    assert [(s.function, s.by, s.on) for s in answers.signoffs] == [
        ("legal", "dana", date(2026, 11, 20)),
        ("finance", "farid", date(2026, 11, 21)),
        ("support", "ana", date(2026, 11, 21)),
    ]


def test_scope_of_a_support_bot_refund_is_the_grant_and_the_action(charter: Charter) -> None:
    scope = action_of(answer(charter), "support-bot", "refund").scope

    assert (scope.max_amount, scope.approve_above, scope.currency) == (Decimal(200), Decimal(50), "USD")
    assert scope.amount_param == "amount" and not scope.require_approval
    assert scope.segments == ["standard", "gold"] and scope.channels == ["chat", "email"]
    assert scope.excluded_skus == ["FINAL-*", "GIFT-*"]
    assert scope.budget is not None
    assert (scope.budget.per, scope.budget.count, scope.budget.amount) == ("1d", 300, Decimal(5000))
    assert scope.budget.enforced is True  # the worker reserves each request's share in the budget ledger (rule 4)
    assert scope.denied is None
    assert scope.ladder is not None
    steps = [(s.role, s.covering, [(p.person, p.approve_limit) for p in s.people]) for s in scope.ladder.steps]
    assert steps == [
        ("support-lead", None, [("ana", Decimal(1000)), ("ben", Decimal(300))]),
        ("duty-manager", "support-lead", [("carla", Decimal(5000))]),
    ]
    assert (scope.ladder.step_timeout, scope.ladder.on_timeout) == ("4h", "deny")


def test_scope_lists_preconditions_and_any_for_unrestricted_grants(charter: Charter) -> None:
    answers = answer(charter)

    change = action_of(answers, "support-bot", "change_address").scope
    assert change.preconditions == {"not_dispatched": PRECONDITION_MEANING}
    assert change.segments is None and change.max_amount is None and change.amount_param is None
    booking = action_of(answers, "support-bot", "book_appointment").scope
    assert booking.channels is None and booking.ladder is None
    tier1 = action_of(answers, "priya", "refund").scope
    assert (tier1.max_amount, tier1.approve_above, tier1.channels) == (Decimal(1000), Decimal(300), None)


def test_an_overdue_actor_is_denied_and_a_current_one_is_not(charter: Charter) -> None:
    answers = answer(charter)
    partner = next(who for who in answers.actors if who.actor == "insights-partner")

    assert partner.denied == "recertification overdue since 2026-06-01 (owner ana)"
    share = partner.actions[0]
    assert share.scope.denied == partner.denied
    assert share.scope.require_approval
    assert next(who for who in answers.actors if who.actor == "support-bot").denied is None

    before = answer(charter, actor="insights-partner", now=NOW.replace(year=2026, month=5, day=1))
    assert before.actors[0].denied is None


def test_reversibility_names_kind_owner_people_and_procedure(charter: Charter) -> None:
    answers = answer(charter)

    refund = action_of(answers, "support-bot", "refund").reversibility
    assert (refund.kind, refund.until, refund.until_meaning) == (
        "until",
        "payout",
        "as the system of record reports it",
    )
    assert (refund.owner, refund.owner_people) == ("finance-ops", ["farid"])
    assert refund.procedure == "Claw the refund back before the payout runs"
    cancel = action_of(answers, "support-bot", "cancel_order").reversibility
    assert (cancel.kind, cancel.window, cancel.owner_people) == ("window", "1d", ["ana", "ben"])
    share = action_of(answers, "insights-partner", "share_customer_data").reversibility
    assert (share.kind, share.owner, share.drill) == ("irreversible", None, None)
    assert share.procedure == "Ask the recipient to delete the data and notify the customer"


def test_drill_answers_come_from_the_ledger(charter: Charter, ledger: DrillLedger) -> None:
    passed = drill(ledger, "refund", finished=NOW - timedelta(days=3))
    drill(ledger, "change_address", finished=NOW - timedelta(days=5))
    failed = drill(
        ledger, "change_address", finished=NOW - timedelta(days=1), passed=False, step="verify", reason="still old"
    )
    drill(ledger, "cancel_order", finished=NOW - timedelta(days=91))

    answers = answer(charter, ledger=ledger)

    refund = action_of(answers, "support-bot", "refund").reversibility.drill
    assert refund is not None
    assert (refund.every, refund.schedule, refund.last_result, refund.overdue) == (
        "30d",
        "drill-refund",
        "passed",
        False,
    )
    assert refund.last_run == refund.last_pass == passed.finished
    change = action_of(answers, "support-bot", "change_address").reversibility.drill
    assert change is not None and change.overdue
    assert (change.last_run, change.last_result, change.last_failure) == (
        failed.finished,
        "failed at verify",
        "still old",
    )
    assert change.last_pass == NOW - timedelta(days=5)
    assert change.overdue_because == "the last drill failed at verify"
    assert change.while_overdue == "every request needs a person's approval until a drill passes"
    cancel = action_of(answers, "omar", "cancel_order").reversibility.drill
    assert cancel is not None and cancel.overdue
    assert cancel.overdue_because == "last passed longer ago than drills.max_age (90d)"
    booking = action_of(answers, "support-bot", "book_appointment").reversibility.drill
    assert booking is not None and booking.overdue and booking.last_run is None
    assert booking.overdue_because == "never drilled"
    assert booking.while_overdue == "every request is denied until a drill passes (no approval ladder)"
    assert booking.stale_reason is not None and "never been drilled" in booking.stale_reason


def test_auditability_counts_the_archive_per_actor_and_action(charter: Charter, archived: Archived) -> None:
    for _ in range(3):
        archived.action(actor="support-bot", action="refund")
    archived.action(actor="support-bot", action="refund", refused_by=["omar"])
    archived.action(actor="support-bot", action="cancel_order")
    archived.action(actor="priya", action="refund")

    answers = answer(charter, archive=archived.archive)

    counts = {
        (who.actor, a.action): (a.auditability.records, a.auditability.requests)
        for who in answers.actors
        for a in who.actions
    }
    assert counts[("support-bot", "refund")] == (4, 4)
    assert counts[("support-bot", "cancel_order")] == (1, 1)
    assert counts[("support-bot", "change_address")] == (0, 0)
    assert counts[("omar", "refund")] == (1, 0)  # omar's refused approval of a support-bot refund
    assert counts[("priya", "refund")] == (1, 1)
    assert answers.archive_note is None
    audit = action_of(answers, "support-bot", "refund").auditability
    assert audit.pull == "cxgov audit --actor support-bot --action refund --since 2555d --format csv"
    assert audit.ui_search == 'CxActor = "support-bot" AND CxAction = "refund"'
    assert (audit.namespace, audit.temporal_address, audit.ui) == (
        "cx-prod",
        "temporal.internal:7233",
        "http://temporal.internal:8233",
    )
    assert audit.retention_days == 2555
    assert audit.archive == "postgresql://audit:***@db.internal/audit"
    assert "s3cret" not in answers.model_dump_json()


def test_without_an_archive_there_are_no_counts_but_an_answer(charter: Charter) -> None:
    answers = answer(charter)

    assert answers.archive_note == "no records yet"
    assert action_of(answers, "support-bot", "refund").auditability.records is None
    drill_answer = action_of(answers, "support-bot", "refund").reversibility.drill
    assert drill_answer is not None and drill_answer.overdue and drill_answer.last_run is None


def test_one_actor_and_an_unknown_one(charter: Charter) -> None:
    assert [who.actor for who in answer(charter, actor="omar").actors] == ["omar"]
    with pytest.raises(BadRequest, match=r"unknown actor 'nobody'.*support-bot.*omar"):
        answer(charter, actor="nobody")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("sqlite:////var/cxgov/audit.db", "sqlite:////var/cxgov/audit.db"),
    ],
)
def test_archive_urls_are_shown_without_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown
