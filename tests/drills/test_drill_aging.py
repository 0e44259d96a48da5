"""Drill aging on a time-skipping server (one per test): a passing drill keeps an action's autonomy for
drills.max_age (90d) and no longer; a new pass restores it. Time is skipped with `env.sleep`.

The drill's `finished` time is the drill workflow's `workflow.now()`, virtual here, and rule 5 compares it with
the worker's clock: the worker gets a `VirtualClock` so both read the same (virtual) time. Drills run with
automatic time skipping off: waiting on a result with it on lets the virtual clock leap ahead (trap 4).
Only durations are asserted, never dates.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from drillkit import DrillStack, VirtualClock, request, run_drill, start_drill_stack
from harness import write_charter
from temporalio.testing import WorkflowEnvironment

from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, DrillResult, Outcome, Status

REFUND_TEE_10 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "10"}
"""Small enough to be refunded several times on the 40 line; within approve_above 50."""


async def refund_10(stack: DrillStack, clock: VirtualClock) -> ActionState:
    await clock.sync()
    return await stack.client.act(request(stack, params=REFUND_TEE_10), wait=20)


async def drill(env: WorkflowEnvironment, stack: DrillStack, clock: VirtualClock) -> DrillResult:
    await clock.sync()
    with env.auto_time_skipping_disabled():
        return await run_drill(stack, "refund")


def outcome(state: ActionState) -> tuple[Status, Outcome, str]:
    assert state.decision is not None
    return state.status, state.decision.outcome, state.decision.rule


async def test_a_pass_older_than_max_age_escalates_until_a_new_pass(
    time_skipping: WorkflowEnvironment, sandbox: Sandbox, ledger: DrillLedger, tmp_path: Path
) -> None:
    env = time_skipping
    clock = VirtualClock(env)
    stack, worker = await start_drill_stack(
        env.client,
        sandbox,
        ledger=ledger,
        workspace=tmp_path / "drills",
        charter_path=write_charter(tmp_path),  # harness.CHARTER keeps support-bot certified while time skips
        clock=clock,
    )
    async with worker:
        first = await drill(env, stack, clock)
        assert first.passed
        assert outcome(await refund_10(stack, clock)) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")

        await env.sleep(timedelta(days=89))
        assert (await clock.sync()) - first.finished >= timedelta(days=89)
        assert outcome(await refund_10(stack, clock)) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")

        await env.sleep(timedelta(days=2))
        aged = await refund_10(stack, clock)
        assert outcome(aged) == (Status.AWAITING_APPROVAL, Outcome.ESCALATE, "5-drill")
        assert aged.decision is not None
        [reason] = aged.decision.reasons
        assert reason.startswith("the undo of refund last passed a drill at ")
        assert "longer ago than drills.max_age (90d)" in reason
        await stack.client.decide(aged.action_id, verdict="deny", person="ana", reason="wait for a drill")

        again = await drill(env, stack, clock)
        assert again.passed
        assert again.finished - first.finished > timedelta(days=90)
        assert again.finished - again.started < timedelta(minutes=1)
        assert outcome(await refund_10(stack, clock)) == (Status.COMPLETED, Outcome.ALLOW, "6-allow")

        drills = ledger.drills(action="refund")
        assert drills.last_pass is not None and drills.last_pass.drill_id == again.drill_id
