"""What the governance tests share: archiving real-looking action runs, recording drills, running `cxgov`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import ArchivedRun, AuditRecordBase
from cxgov.drills.ledger import DrillLedger
from cxgov.wire import DrillResult

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
"""The moment the unit tests answer for: insights-partner (due 2026-06-01) is overdue, the others are not."""


@dataclass
class Archived:
    """Archives action runs the way the archiver does: one closed run, its action record and its refusals."""

    archive: AuditArchive
    runs: int = 0

    def action(
        self,
        *,
        actor: str = "support-bot",
        action: str = "refund",
        at: datetime = NOW - timedelta(hours=1),
        gap: bool = False,
        reason: str = "customer asked",
        decision: str = "within the grant",
        customer: str = "C-100",
        channel: str = "chat",
        refused_by: list[str] | None = None,
    ) -> str:
        """Archive one action run; returns its action id."""
        self.runs += 1
        run_id = f"run-{self.runs:04d}"
        action_id = f"action-00000000-0000-4000-8000-{self.runs:012d}"
        main = AuditRecordBase(
            kind="action",
            time=at,
            source=run_id,
            workflow_id=action_id,
            run_id=run_id,
            action_id=action_id,
            actor=actor,
            actor_kind="ai_agent",
            customer=customer,
            action=action,
            params=json.dumps({"order_id": "O-1001"}),
            channel=channel,
            reason=reason,
            outcome="deny" if gap else "allow",
            rule="1-no-grant" if gap else "6-allow",
            reasons=json.dumps([decision]),
            gap=gap,
            charter_version=3,
            status="denied" if gap else "completed",
        )
        refusals = [
            AuditRecordBase(
                kind="approval_refused",
                time=at - timedelta(minutes=1),
                source=f"{run_id}#{index}",
                workflow_id=action_id,
                run_id=run_id,
                action_id=action_id,
                actor=person,
                actor_kind="person",
                customer=customer,
                action=action,
                reasons=json.dumps([f"{person} is not on ladder step 1"]),
                charter_version=3,
                status="refused",
            )
            for index, person in enumerate(refused_by or [], start=1)
        ]
        run = ArchivedRun(
            run_id=run_id,
            workflow_id=action_id,
            workflow_type="action",
            closed_at=at,
            archived_at=at + timedelta(minutes=1),
            history='{"events": []}',
        )
        assert self.archive.append_run(run=run, records=[main, *refusals])
        return action_id


def drill(
    ledger: DrillLedger,
    action: str,
    *,
    finished: datetime,
    passed: bool = True,
    step: str | None = None,
    reason: str | None = None,
) -> DrillResult:
    """Record one drill result in the ledger, as the drill workflow's record activity does."""
    result = DrillResult(
        drill_id=f"drill-{action}-{finished.timestamp():.0f}-{passed}",
        action=action,
        charter_version=3,
        started=finished - timedelta(seconds=2),
        finished=finished,
        passed=passed,
        failing_step=step,
        reason=reason,
    )
    assert ledger.record(result=result)
    return result
