"""Preconditions are checked again with the effect: a slot that fills up between the decision and execute
denies the late request (rule 4-precondition, with the fresh reason); it never fails half done."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from harness import start_stack
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox
from cxgov.wire import Status

SEATS = 5
REQUESTS = 16
SEED = f"""customers:
  C-100: {{name: Ada Park, segment: standard}}
clinics:
  east:
    "2026-12-02T09:00": {{capacity: {SEATS}, booked: 0}}
"""


async def test_sixteen_bookings_of_five_seats_give_five_bookings_and_eleven_denials(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=seed)
    stack, worker = await start_stack(dev_env.client, box)
    try:
        async with worker:
            requests = [
                stack.client.request(
                    actor="support-bot",
                    action="book_appointment",
                    customer="C-100",
                    channel="chat",
                    reason=f"booking {n}",
                    params={"clinic": "east", "slot": "2026-12-02T09:00"},
                )
                for n in range(REQUESTS)
            ]
            settled = await asyncio.gather(*(stack.client.act(request, wait=30) for request in requests))
    finally:
        world = box.world_snapshot()
        box.close()

    assert Counter(state.status for state in settled) == {Status.COMPLETED: SEATS, Status.DENIED: REQUESTS - SEATS}
    for state in settled:
        if state.status == Status.DENIED:
            assert state.decision is not None and state.decision.rule == "4-precondition"
            assert any("is full (5 of 5 booked)" in reason for reason in state.decision.reasons), state.decision
            assert all(step.step == "execute" and not step.ok for step in state.steps), "nothing to compensate"
    assert world["clinics"]["east"]["2026-12-02T09:00"]["booked"] == SEATS
    assert len(world["bookings"]) == SEATS
