"""Record one JSON history per workflow path into tests/replay/histories/ (run by hand after a workflow change
that is meant to be incompatible; normal changes go behind `workflow.patched()` and keep these files).

    .venv/bin/python tests/replay/record_histories.py            # every path
    .venv/bin/python tests/replay/record_histories.py NAME...    # only these (a new path; the others stay
                                                                 # as recorded by older code)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from harness import (  # noqa: E402
    CHARTER,
    SEARCH_ATTRIBUTE_KEYS,
    SEED,
    TEMPORAL,
    TEST_COMPENSATION_ATTEMPTS,
    TEST_SIGNER,
    TRUSTED,
)
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from cxgov.audit.store import AuditArchive  # noqa: E402
from cxgov.client import CxgovClient  # noqa: E402
from cxgov.connection import governed  # noqa: E402
from cxgov.connectors import Systems  # noqa: E402
from cxgov.drills.ledger import DrillLedger  # noqa: E402
from cxgov.sandbox import Sandbox  # noqa: E402
from cxgov.wire import ArchiveInput, DrillInput, DrillWatchInput, RetentionInput  # noqa: E402
from worker import build_worker  # noqa: E402
from worker.build import NOT_ENFORCED  # noqa: E402
from workflows.audit import AuditArchiveWorkflow, AuditRetentionWorkflow  # noqa: E402
from workflows.drill import DrillWatchWorkflow, DrillWorkflow  # noqa: E402
from workflows.notice import notice_workflow_id  # noqa: E402

RECORDED = (
    "drill_passed",
    "drill_failed_at_prepare",
    "action_completed",
    "action_denied",
    "action_approved",
    "action_compensated",
    "action_compensation_failed",
    "action_expired",
    "action_expired_told",
    "notice_sent",
    "drills_watch",
    "action_denied_at_execute",
    "reversal_reversed",
    "reversal_refused",
    "reversal_kept_later_changes",
    "audit_archive",
    "audit_retention",
)
"""The histories kept; the script also runs a few actions only to set the world up for them."""


async def main() -> None:
    unknown = set(sys.argv[1:]) - set(RECORDED)
    if unknown:
        raise SystemExit(f"unknown history {', '.join(sorted(unknown))}; known: {', '.join(RECORDED)}")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL), search_attributes=SEARCH_ATTRIBUTE_KEYS, ui=False
    )
    work = Path(tempfile.mkdtemp())
    box = Sandbox(work / "sandbox.db")
    box.load_world(seed=SEED)
    # cancel_order's ladder steps last 1 s here, so a history of an expired ladder records in seconds.
    ladder = (
        "procedure: Reinstate the order, owner: support-lead}\n    approval: {ladder: [support-lead], step_timeout: "
    )
    charter = work / "charter.yaml"
    charter.write_text(CHARTER.read_text().replace(ladder + "1h", ladder + "1s"))
    assert charter.read_text() != CHARTER.read_text()
    archive = AuditArchive(f"sqlite:///{work / 'audit.db'}")
    ledger = DrillLedger(f"sqlite:///{work / 'audit.db'}")
    temporal = governed(env.client)
    queue = f"record-{uuid.uuid4()}"
    worker = build_worker(
        temporal,
        task_queue=queue,
        charter_path=charter,
        systems=Systems.serving(box),
        archive=archive,
        drills=ledger,
        drill_workspace=work / "drills",
        budgets=NOT_ENFORCED,
        compensation_attempts=TEST_COMPENSATION_ATTEMPTS,
        trusted_keys=TRUSTED,
    )
    client = CxgovClient(temporal, task_queue=queue, charter_path=charter, signer=TEST_SIGNER)
    recorded: dict[str, str] = {}
    async with worker:
        # book_appointment is drilled only to earn its autonomy; share_customer_data is irreversible.
        drilled = {"refund": "drill_passed", "book_appointment": "", "share_customer_data": "drill_failed_at_prepare"}
        for action, name in drilled.items():
            drill = await temporal.execute_workflow(
                DrillWorkflow.run, DrillInput(action=action), id=f"drill-{action}-{uuid.uuid4()}", task_queue=queue
            )
            if name:
                recorded[name] = drill.drill_id.split("/")[0]

        async def act(name: str, action: str, params: dict[str, object]) -> str:
            request = client.request(
                actor="support-bot", action=action, customer="C-100", channel="chat", reason=name, params=params
            )
            state = await client.act(request, wait=20)
            recorded[name] = state.action_id
            return state.action_id

        allowed = await act("action_completed", "refund", {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"})
        await act("action_denied", "refund", {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"})
        escalated = await act(
            "action_approved", "refund", {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
        )
        await client.decide(escalated, verdict="approve", person="omar", reason="refused attempt")
        await client.decide(escalated, verdict="approve", person="ana", reason="approved")
        await client.wait_settled(escalated, wait=20)
        north_9 = {"clinic": "north", "slot": "2026-12-01T09:00"}
        box.add_fault(action="book_appointment", step="verify")
        await act("action_compensated", "book_appointment", north_9)
        box.add_fault(action="book_appointment", step="verify")
        box.add_fault(action="book_appointment", step="compensate", times=3)
        await act("action_compensation_failed", "book_appointment", north_9)
        # cancel_order was never drilled, so it waits for a person; its ladder steps last 1 s in this charter.
        expiring = await act("action_expired", "cancel_order", {"order_id": "O-1001"})
        # The same path since notifications: each ladder phase and the expiry start a notice workflow.
        told = await act("action_expired_told", "cancel_order", {"order_id": "O-1001"})
        late = await act("late", "refund", {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "60"})
        with contextlib.suppress(Exception):
            await client.reverse(escalated, person="ana", reason="not in finance-ops: refused")
        recorded["reversal_refused"] = f"reverse-{escalated}"
        await client.reverse(allowed, person="farid", reason="reversed")
        recorded["reversal_reversed"] = f"reverse-{allowed}"
        jacket_20 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "20"}
        first = await act("refund_first", "refund", jacket_20)
        await act("refund_later", "refund", jacket_20)
        await client.reverse(first, person="farid", reason="reversed, keeping the later refund")
        recorded["reversal_kept_later_changes"] = f"reverse-{first}"
        # The 60 was decided with 60 left on the line; two refunds of 20 since leave 40: refused at execute.
        await client.decide(late, verdict="approve", person="ana", reason="approved after the facts changed")
        await temporal.get_workflow_handle(late).result()
        recorded["action_denied_at_execute"] = late
        await temporal.get_workflow_handle(expiring).result()
        await temporal.get_workflow_handle(told).result()
        recorded["notice_sent"] = notice_workflow_id(f"{told}:approval_requested:1")
        await temporal.get_workflow_handle(recorded["notice_sent"]).result()
        watch_id = f"drills-watch-{uuid.uuid4()}"
        await temporal.execute_workflow(DrillWatchWorkflow.run, DrillWatchInput(), id=watch_id, task_queue=queue)
        recorded["drills_watch"] = watch_id
        archive_id = f"audit-archive-{uuid.uuid4()}"
        await temporal.execute_workflow(AuditArchiveWorkflow.run, ArchiveInput(), id=archive_id, task_queue=queue)
        recorded["audit_archive"] = archive_id
        retention_id = f"audit-retention-{uuid.uuid4()}"
        await temporal.execute_workflow(AuditRetentionWorkflow.run, RetentionInput(), id=retention_id, task_queue=queue)
        recorded["audit_retention"] = retention_id
        wanted = set(sys.argv[1:]) or set(RECORDED)
        for name, workflow_id in recorded.items():
            if name not in wanted:
                continue
            history = await temporal.get_workflow_handle(workflow_id).fetch_history()
            (HERE / "histories" / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {workflow_id}")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
