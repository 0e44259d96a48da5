"""Notice and its outcomes cross the Temporal wire (an activity's input and result) with cxgov's converter."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from notifykit import notice
from temporalio.contrib.pydantic import pydantic_data_converter

import cxgov.notify.models
from cxgov.notify import Delivery, Event, Notice, NoticeFailure


def test_notices_and_outcomes_round_trip_through_the_data_converter() -> None:
    converter = pydantic_data_converter.payload_converter
    sent = notice(roles=["support-leads"])
    outcome = [Delivery(target="person:maria", ok=False, error="json: error=500", channel="json")]
    failure = NoticeFailure(
        key=sent.key,
        event=Event.APPROVAL_REQUESTED,
        action_id=sent.action_id,
        target="person:maria",
        channel="json",
        error="json: error=500",
        at=datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
        attempts=2,
        subject=sent.subject,
    )
    [payload] = converter.to_payloads([sent])
    assert converter.from_payloads([payload], [Notice]) == [sent]
    [payload] = converter.to_payloads([outcome])
    assert converter.from_payloads([payload], [list[Delivery]]) == [outcome]
    [payload] = converter.to_payloads([failure])
    assert converter.from_payloads([payload], [NoticeFailure]) == [failure]


def test_the_models_module_has_no_apprise_or_database_imports() -> None:
    """Workflows import the models: they must stay free of side effects (no Apprise, no sqlmodel)."""
    tree = ast.parse(Path(cxgov.notify.models.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "datetime", "enum", "pydantic"}
