"""Load through the front door, lighter: `bench.load`'s own code with 120 requests against the session's dev
server (in a namespace of its own, so the archive sees only this run). No timing is asserted: that is the
benchmark's job; this asserts nothing is lost, everything is archived once and budgets add up exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from harness import own_namespace, terminate_running
from temporalio.testing import WorkflowEnvironment

from bench.load import LoadConfig, run_load
from cxgov.connection import governed

pytestmark = pytest.mark.slow


async def test_a_mixed_load_through_the_api_loses_nothing(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = governed(await own_namespace(dev_env, prefix="load"))
    report = await run_load(client, home=tmp_path, config=LoadConfig(count=120, concurrency=25, approver_poll=0.5))
    task_queue = report.task_queue
    try:
        shown = "\n".join(report.lines())
        assert report.lost == 0, shown
        assert report.checks.failures == [], shown
        kinds = {kind: report.of(kind) for kind in ("allowed", "escalated", "denied", "bad_input")}
        assert {kind: len(answers) for kind, answers in kinds.items()} == {
            "allowed": 54,
            "escalated": 18,
            "denied": 24,
            "bad_input": 24,
        }
        statuses = {kind: {report.checks.status_of(a) for a in answers} for kind, answers in kinds.items()}
        assert statuses == {
            "allowed": {"completed"},
            "escalated": {"completed"},
            "denied": {"denied"},
            "bad_input": {None},
        }
        assert {a.http for a in kinds["bad_input"]} == {422, 403}
        # Every escalation was approved once, by the person the plan named, who is never the requester.
        for answer in kinds["escalated"]:
            approvals = report.checks.statuses[answer.planned.action_id]["approvals"]
            assert [(r["person"], r["accepted"]) for r in approvals] == [(answer.planned.approver, True)]
            assert answer.planned.approver != answer.planned.principal
        # Exactly once in Temporal and in the archive: one run and one action record per accepted action.
        accepted = {a.planned.action_id for a in report.answers if a.accepted}
        assert len(accepted) == 96
        assert report.checks.runs == dict.fromkeys(accepted, 1)
        assert report.checks.archived == dict.fromkeys(accepted, 1)
        assert report.checks.resynced == 0
        # The budget ledger holds exactly the completed support-bot refunds, to the cent.
        [budget] = report.checks.budgets
        completed = [
            a.planned.amount
            for a in report.answers
            if (a.planned.principal, a.planned.action) == ("support-bot", "refund")
            and report.checks.status_of(a) == "completed"
        ]
        assert (budget.actor, budget.action) == ("support-bot", "refund")
        assert budget.shares == budget.rows == len(completed) > 0
        assert budget.consumed == sum((amount or Decimal(0) for amount in completed), Decimal(0))
        assert report.checks.bad_traces == 0
    finally:
        await terminate_running(client, task_queue)
