"""The approval ladder's durable timers, on a time-skipping test server (one per test): phases, coverage, expiry.

Time is skipped with `env.sleep`; only durations are asserted (deadline - now), never dates.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from action_kit import REFUND_JACKET_120, SHARE_FIELDS, request
from harness import Stack, eventually, start_stack, write_charter
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, Outcome, PendingApproval, Status
from workflows.action import CX_ACTOR, CX_AMOUNT, CX_STATUS

CERTIFIED_PARTNER = ("recertify_by: 2026-06-01", "recertify_by: 2099-06-01")
"""Charter change: insights-partner is recertified, so its share requests reach the ladder (require_approval)."""
SLACK = timedelta(seconds=5)
"""How far the locked virtual clock may drift while the test itself runs."""


async def time_left(env: WorkflowEnvironment, pending: PendingApproval) -> timedelta:
    return pending.deadline - await env.get_current_time()


async def at_phase(stack: Stack, action_id: str, phase: int) -> ActionState:
    return await eventually(
        lambda: stack.client.status(action_id),
        lambda state: state.pending is not None and state.pending.phase == phase,
        what=f"{action_id} reaches ladder phase {phase}",
    )


async def test_share_ladder_moves_from_legal_to_duty_manager_then_expires(
    time_skipping: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = time_skipping
    built, worker = await start_stack(env.client, sandbox, charter_path=write_charter(tmp_path, CERTIFIED_PARTNER))
    before = sandbox.world_snapshot()
    async with worker:
        share = request(
            built, actor="insights-partner", action="share_customer_data", channel="api", params=SHARE_FIELDS
        )
        state = await built.client.act(share, wait=20)

        assert state.status == Status.AWAITING_APPROVAL
        assert state.decision is not None
        assert (state.decision.outcome, state.decision.rule, state.decision.charter_version) == (
            Outcome.ESCALATE,
            "5-require-approval",
            4,
        )
        assert state.decision.reasons == ["the grant to actor insights-partner requires approval of every request"]
        legal = state.pending
        assert legal is not None
        assert (legal.phase, legal.phases, legal.role, legal.coverage_for, legal.eligible) == (
            1,
            2,
            "legal",
            None,
            ["dana"],
        )
        assert abs(await time_left(env, legal) - timedelta(days=1)) < SLACK

        # carla sits on the second step; before it starts she is refused, and that is on the record.
        early = await built.client.decide(state.action_id, verdict="approve", person="carla", reason="ok to share")
        assert early.accepted is False
        assert early.refusal is not None and "carla is not on ladder step 1 (role legal)" in early.refusal

        await env.sleep(timedelta(hours=23, minutes=59))
        still = await built.client.status(state.action_id)
        assert still.pending is not None and still.pending.phase == 1
        assert abs(await time_left(env, still.pending) - timedelta(minutes=1)) < SLACK

        await env.sleep(timedelta(minutes=2))
        moved = await at_phase(built, state.action_id, 2)
        duty = moved.pending
        assert duty is not None
        assert (duty.role, duty.coverage_for, duty.eligible) == ("duty-manager", None, ["carla"])
        assert abs(await time_left(env, duty) - (timedelta(days=1) - timedelta(minutes=1))) < SLACK

        late = await built.client.decide(state.action_id, verdict="approve", person="dana", reason="now I agree")
        assert late.accepted is False
        assert late.refusal is not None and "dana is not on ladder step 2 (role duty-manager)" in late.refusal

        await env.sleep(timedelta(days=1))
        done = await eventually(
            lambda: built.client.status(state.action_id),
            lambda current: current.status != Status.AWAITING_APPROVAL,
            what="the ladder expires",
        )

    assert done.status == Status.EXPIRED
    assert done.pending is None and done.steps == []
    assert [(r.person, r.phase, r.accepted) for r in done.approvals] == [("carla", 1, False), ("dana", 2, False)]
    assert done.approvals[1].at - done.approvals[0].at >= timedelta(days=1)
    assert sandbox.world_snapshot() == before, "nothing was shared"


async def test_refund_ladder_falls_to_coverage_after_four_hours(
    time_skipping: WorkflowEnvironment, sandbox: Sandbox
) -> None:
    env = time_skipping
    built, worker = await start_stack(env.client, sandbox)
    async with worker:
        state = await built.client.act(request(built, params=REFUND_JACKET_120), wait=20)
        assert state.status == Status.AWAITING_APPROVAL
        leads = state.pending
        assert leads is not None
        assert (leads.phase, leads.phases, leads.role, leads.eligible) == (1, 2, "support-lead", ["ana", "ben"])
        assert abs(await time_left(env, leads) - timedelta(hours=4)) < SLACK

        # The search attributes registered through the operator service took: the workflow upserted them.
        described = await built.temporal.get_workflow_handle(state.action_id).describe()
        assert described.typed_search_attributes.get(CX_ACTOR) == "support-bot"
        assert described.typed_search_attributes.get(CX_STATUS) == Status.AWAITING_APPROVAL.value
        assert described.typed_search_attributes.get(CX_AMOUNT) == 120.0

        early = await built.client.decide(state.action_id, verdict="approve", person="carla", reason="early")
        assert early.accepted is False

        await env.sleep(timedelta(hours=4, seconds=1))
        coverage = (await at_phase(built, state.action_id, 2)).pending
        assert coverage is not None
        assert (coverage.role, coverage.coverage_for, coverage.eligible) == ("duty-manager", "support-lead", ["carla"])
        assert abs(await time_left(env, coverage) - timedelta(hours=4)) < SLACK

        gone = await built.client.decide(state.action_id, verdict="approve", person="ana", reason="back now")
        assert gone.accepted is False
        assert gone.refusal is not None and "ana is not on ladder step 2 (role duty-manager)" in gone.refusal
        granted = await built.client.decide(state.action_id, verdict="approve", person="carla", reason="covering")
        assert granted.accepted is True

        done = await eventually(
            lambda: built.client.status(state.action_id),
            lambda current: current.status == Status.COMPLETED,
            what="the refund completes",
        )

    assert [(r.person, r.role, r.phase, r.accepted) for r in done.approvals] == [
        ("carla", "support-lead", 1, False),
        ("ana", "duty-manager", 2, False),
        ("carla", "duty-manager", 2, True),
    ]
    assert done.approvals[2].at - done.approvals[0].at >= timedelta(hours=4)
    assert list(sandbox.world_snapshot()["refunds"]) == [done.action_id]


async def test_an_attempt_refused_before_its_phase_can_be_repeated_once_the_phase_starts(
    time_skipping: WorkflowEnvironment, sandbox: Sandbox
) -> None:
    env = time_skipping
    built, worker = await start_stack(env.client, sandbox)
    async with worker:
        state = await built.client.act(request(built, params=REFUND_JACKET_120), wait=20)
        early = await built.client.decide(state.action_id, verdict="approve", person="carla", reason="covering")
        assert early.accepted is False

        await env.sleep(timedelta(hours=4, seconds=1))
        await at_phase(built, state.action_id, 2)
        again = await built.client.decide(state.action_id, verdict="approve", person="carla", reason="covering")

    assert again.accepted is True, again.refusal
