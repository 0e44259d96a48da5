"""The sentence for each way an action can end, on the API's own JSON shape (`cxgov.shapes.action_json`).

The tests over HTTP and stdio reach completed, awaiting approval, denied (by rule and by a person) and
compensated through a real worker; these cover the endings that need hours of timers or repeated faults
(expired, compensation_failed, failed) and the ones a later reversal writes, each as a result an agent can act
on: an error result whenever the action did not take effect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cxgov.mcp.results import action_result, what_of
from cxgov.shapes import action_json
from cxgov.wire import ActionRequest, ActionState, ApprovalRecord, Decision, Outcome, Status

ACTION_ID = "action-5f0c8a9e-0000-4000-8000-000000000001"
WHAT = "refund of 120 USD for C-100"
ESCALATED = Decision(outcome=Outcome.ESCALATE, rule="5-approve-above", reasons=["amount 120 is above 50"])


def state(status: Status, **fields: object) -> ActionState:
    request = ActionRequest(
        action_id=ACTION_ID,
        actor="support-bot",
        action="refund",
        customer="C-100",
        channel="chat",
        reason="arrived torn",
        params={"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"},
    )
    return ActionState(action_id=ACTION_ID, status=status, request=request, decision=ESCALATED, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ended", "error", "sentence"),
    [
        (
            state(Status.EXPIRED, error="no approval on any ladder step before its timeout; on_timeout: deny"),
            True,
            f"Expired: nobody on the approval ladder decided in time (no approval on any ladder step before its "
            f"timeout; on_timeout: deny); {WHAT} did not happen. Do not retry it unchanged; hand it to a person.",
        ),
        (
            state(Status.COMPENSATION_FAILED, error="verify failed: injected fault", escalated_to=["farid"]),
            True,
            f"Failed and NOT rolled back: {WHAT} went wrong (verify failed: injected fault) and undoing it failed "
            f"too; the reversal owners were alerted (farid). Do not retry; tell the customer a person will follow up "
            f"(action {ACTION_ID}).",
        ),
        (
            state(Status.FAILED, error="execute failed: the system refused"),
            True,
            f"Failed: {WHAT} did not complete (execute failed: the system refused); there is nothing to undo.",
        ),
        (
            state(Status.REVERSED, reversal=f"reverse-{ACTION_ID}"),
            False,
            f"Reversed: {WHAT} completed and was later undone (reverse-{ACTION_ID}).",
        ),
        (
            state(Status.EXECUTING),
            False,
            f'Still executing: {WHAT} (action {ACTION_ID}); check back with wait_for_action(action_id="{ACTION_ID}").',
        ),
    ],
    ids=["expired", "compensation_failed", "failed", "reversed", "executing"],
)
def test_every_ending_is_one_sentence_and_an_error_when_it_did_not_happen(
    ended: ActionState, error: bool, sentence: str
) -> None:
    answered = action_result(action_json(ended, full=True), what=WHAT)
    assert (answered.is_error, answered.content[0].text) == (error, sentence)  # type: ignore[union-attr]
    assert answered.structured_content == action_json(ended, full=True)


def test_a_person_denying_on_the_ladder_is_named_with_their_reason() -> None:
    record = ApprovalRecord(
        verdict="deny", person="ben", reason="no photo", at=datetime.now(UTC), accepted=True, role="support-lead"
    )
    answered = action_result(action_json(state(Status.DENIED, approvals=[record]), full=True), what=WHAT)
    assert answered.is_error
    assert (
        answered.content[0].text
        == (  # type: ignore[union-attr]
            f"Denied by ben (support-lead) on the approval ladder: no photo. {WHAT[0].upper()}{WHAT[1:]} did not "
            "happen; do not retry it unchanged."
        )
    )


def test_what_names_the_amount_in_the_charters_currency_when_the_action_has_one() -> None:
    params = {"order_id": "O-1001", "amount": "40.50"}
    assert what_of("refund", "C-100", params, amount_param="amount", currency="USD") == "refund of 40.50 USD for C-100"
    assert what_of("refund", "C-100", {"amount": 40}, amount_param="amount", currency="EUR") == (
        "refund of 40 EUR for C-100"
    )
    assert what_of("change_address", "C-100", {"address": "x"}, amount_param=None, currency="USD") == (
        "change_address for C-100"
    )
