"""The Temporal server killed and started again while an action waits on its approval ladder.

A dev server of the test's own, on a SQLite file, is SIGKILLed while a refund waits for a support lead, then
started again on the same file and port. The worker and the client are left alone: they must reconnect by
themselves. Nobody approves, so the ladder's durable timers end the action `expired`, as the charter says,
and the history written before the kill is still whole and replays.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from harness import eventually, start_stack, write_charter
from outagekit import REFUND_JACKET_120, REFUND_TEE, OwnDevServer, closed, refund_request
from temporalio.api.enums.v1 import EventType

from cxgov.sandbox import Sandbox
from cxgov.wire import Status
from workflows.action import ActionWorkflow

STEP = 6
SHORT_LADDER = (
    "approval: {ladder: [support-lead], step_timeout: 4h, on_timeout: deny}",
    f"approval: {{ladder: [support-lead], step_timeout: {STEP}s, on_timeout: deny}}",
)
"""Charter change: a refund waits 6 s on the support leads, then 6 s on their coverage (duty-manager)."""


async def test_the_ladder_timer_fires_after_the_temporal_server_is_killed_and_restarted(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    server = OwnDevServer(tmp_path)
    await server.start()
    try:
        temporal = await server.connect()
        built, worker = await start_stack(temporal, sandbox, charter_path=write_charter(tmp_path, SHORT_LADDER))
        before = sandbox.world_snapshot()
        async with worker:
            waiting = await built.client.act(refund_request(built, REFUND_JACKET_120), wait=20)
            assert waiting.status == Status.AWAITING_APPROVAL
            assert waiting.pending is not None
            assert (waiting.pending.phase, waiting.pending.phases, waiting.pending.role) == (1, 2, "support-lead")

            server.kill()
            killed_at = datetime.now(UTC)
            await asyncio.sleep(1)  # the worker's polls and the client now meet a closed port
            await server.start()

            # Nobody touches the worker or the client: the timers fire and the worker finishes the ladder.
            done = await closed(built, waiting.action_id, within=45)

            # The same worker also takes new work after the restart.
            after = await built.client.act(refund_request(built, REFUND_TEE), wait=30)
            assert after.status == Status.COMPLETED, after

            # The closed action's full history replays on the worker: the status query answers from it.
            handle = built.temporal.get_workflow_handle_for(ActionWorkflow.run, waiting.action_id)
            replayed = await eventually(
                lambda: handle.query(ActionWorkflow.state), lambda state: True, what="the state query answers"
            )
            history = await handle.fetch_history()

        assert done.status == Status.EXPIRED, done
        assert done.decision is not None and done.decision.rule == "5-approve-above"
        assert done.error == "no approval on any ladder step before its timeout; on_timeout: deny"
        assert done.approvals == [] and done.steps == [] and done.pending is None
        assert replayed == done

        timers = [event for event in history.events if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        assert [event.timer_started_event_attributes.start_to_fire_timeout.ToSeconds() for event in timers] == [
            STEP,
            STEP,
        ], "one timer for the support leads, one for their coverage"
        fired = [event for event in history.events if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        assert len(fired) == 2
        assert all(event.event_time.ToDatetime(tzinfo=UTC) > killed_at for event in fired), "both fired after the kill"
        assert history.events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        assert [event.event_id for event in history.events] == list(range(1, len(history.events) + 1))

        expected = sandbox.world_snapshot()
        assert list(expected["refunds"]) == [after.action_id], "the expired refund left nothing behind"
        del expected["refunds"][after.action_id]
        expected["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] = before["orders"]["O-1001"]["lines"][
            "TEE-RED-M"
        ]["refunded"]
        assert expected == before
    finally:
        server.stop()
