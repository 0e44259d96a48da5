"""Audit records derived from recorded histories alone (tests/replay/histories), no server needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHistory

from cxgov.audit.derive import derive

HISTORIES = Path(__file__).resolve().parents[1] / "replay" / "histories"


def derived(name: str) -> list[dict[str, object]]:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    _, records = derive(history, archived_at=datetime.now(UTC))
    return [record.model_dump() for record in records]


def test_an_action_denied_at_execute_is_archived_with_the_decision_that_ended_it() -> None:
    action = next(record for record in derived("action_denied_at_execute") if record["kind"] == "action")
    assert (action["status"], action["outcome"], action["rule"]) == ("denied", "deny", "4-precondition")
    reasons = json.loads(str(action["reasons"]))
    assert reasons[0].startswith("at execute: ") and "exceeds what is left to refund" in reasons[0]
    first = json.loads(str(action["detail"]))["decided_first"]
    assert (first["outcome"], first["rule"]) == ("escalate", "5-approve-above"), "the first decision stays on record"


def test_an_expired_ladder_and_a_failed_compensation_are_archived_as_such() -> None:
    expired = next(record for record in derived("action_expired") if record["kind"] == "action")
    assert (expired["status"], expired["rule"]) == ("expired", "5-drill")
    failed = next(record for record in derived("action_compensation_failed") if record["kind"] == "action")
    assert failed["status"] == "compensation_failed"
    assert json.loads(str(failed["detail"]))["escalated_to"] == ["ana", "ben"]
