"""The guided tour: six governed actions against a running stack, each with the decision's reasons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from cxgov.charter import load_charter
from cxgov.client import CxgovClient
from cxgov.connection import connect
from cxgov.drills.ledger import DrillLedger, stale_reason
from cxgov.identity.signing import load_signer
from cxgov.sandbox import Sandbox
from cxgov.sandbox.guard import tool_sandbox
from cxgov.settings import EXAMPLES, Settings
from cxgov.wire import ActionState, Status

Say = Callable[[str], None]


@dataclass(frozen=True)
class Stop:
    """One stop of the tour: a request and the status the charter should lead it to."""

    title: str
    action: str
    params: dict[str, Any]
    expect: Status
    actor: str = "support-bot"
    customer: str = "C-100"
    channel: str = "chat"
    approver: str | None = None
    fault: str | None = None
    notes: list[str] = field(default_factory=list)


STOPS = [
    Stop(
        "An allowed refund: 40 USD of a tee, under support-bot's approve_above of 50",
        "refund",
        {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"},
        Status.COMPLETED,
    ),
    Stop(
        "An escalated refund: 120 USD is over approve_above 50; ana (support-lead) approves it",
        "refund",
        {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"},
        Status.COMPLETED,
        approver="ana",
    ),
    Stop(
        "A non-returnable SKU: FINAL-* is excluded whatever the amount",
        "refund",
        {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"},
        Status.DENIED,
    ),
    Stop(
        "An over-capacity booking: clinic north at 10:00 holds 1 and has 1 booked",
        "book_appointment",
        {"clinic": "north", "slot": "2026-12-01T10:00"},
        Status.DENIED,
    ),
    Stop(
        "An action nobody granted: close_account is not in the charter, so it is denied and flagged as a gap",
        "close_account",
        {},
        Status.DENIED,
    ),
    Stop(
        "A saga compensation: the booking lands, the read-back fails (an injected fault), the booking is undone",
        "book_appointment",
        {"clinic": "north", "slot": "2026-12-01T09:00"},
        Status.COMPENSATED,
        fault="verify",
    ),
]


async def run_tour(settings: Settings, *, say: Say, client: Client | None = None, tool: str = "demo") -> int:
    """Walk the tour against the stack at `settings`; return how many stops did not end as expected.

    The tour resets the world and takes refunds and bookings: it runs only where the built-in sandbox is the
    system of record of every action.

    Raises:
        Denied: CXGOV_SYSTEMS routes an action to a system that is not the built-in sandbox; nothing was done.
    """
    seed = EXAMPLES / "sandbox.yaml"
    sandbox = Sandbox(tool_sandbox(settings, tool=tool))
    try:
        sandbox.load_world(seed=seed)
        say(f"\n== cxgov tour (the sandbox world was reset to {seed.name}) ==")
        await _await_drills(settings, say=say)
        # The tour is the local operator's, who holds the front door's key on this machine: it signs like the API.
        governed = CxgovClient(
            client or await connect(settings),
            task_queue=settings.task_queue,
            charter_path=settings.charter_path,
            signer=load_signer(settings.signing_key_path),
        )
        failures = 0
        for number, stop in enumerate(STOPS, start=1):
            if stop.fault is not None:
                sandbox.add_fault(action=stop.action, step=stop.fault)
            state = await _walk(governed, stop, number=number, say=say)
            if state.status != stop.expect:
                failures += 1
                say(f"   !! expected {stop.expect.value}, got {state.status.value}")
        say("\nEvery step above is in the Temporal UI at " + settings.ui_address + " (workflow history = audit trail).")
        say("Try: cxgov approvals --as ana | cxgov status ACTION_ID | cxgov charter check")
        return failures
    finally:
        sandbox.close()


async def _await_drills(settings: Settings, *, say: Say, within: float = 120.0) -> None:
    """Autonomy needs a passing reversal drill (rule 5): wait for the drills `cxgov up` started."""
    charter = load_charter(settings.charter_path)
    ledger = DrillLedger(settings.audit_url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        while True:
            stale = {
                action: reason
                for action in charter.drilled_actions()
                if (reason := stale_reason(ledger.drills(action=action), max_age=charter.drills.max_age, now=_now()))
            }
            if not stale:
                say("every reversible action's undo has passed a drill: autonomy as the charter grants it")
                return
            if loop.time() > deadline:
                say(f"still waiting on drills of {', '.join(stale)}: those actions ask a person first")
                return
            await asyncio.sleep(0.5)
    finally:
        ledger.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def _walk(client: CxgovClient, stop: Stop, *, number: int, say: Say) -> ActionState:
    say(f"\n{number}. {stop.title}")
    shown = " ".join(f"--param {k}={v}" for k, v in stop.params.items())
    say(
        f"   $ cxgov act {stop.action} --actor {stop.actor} --customer {stop.customer} --channel {stop.channel} {shown}"
    )
    request = client.request(
        actor=stop.actor,
        action=stop.action,
        customer=stop.customer,
        channel=stop.channel,
        reason=f"tour stop {number}",
        params=stop.params,
    )
    state = await client.act(request, wait=30)
    _show(state, say)
    if stop.approver is not None and state.status == Status.AWAITING_APPROVAL:
        say(f"   $ cxgov approve {state.action_id} --as {stop.approver} --reason 'customer returned it'")
        result = await client.decide(
            state.action_id, verdict="approve", person=stop.approver, reason="customer returned it"
        )
        say(f"   -> approval {'granted' if result.accepted else 'refused: ' + str(result.refusal)}")
        state = await client.wait_settled(state.action_id, wait=30)
        say(f"   -> {state.status.value}")
    return state


def _show(state: ActionState, say: Say) -> None:
    decision = state.decision
    if decision is None:
        say(f"   -> {state.status.value}")
        return
    gap = "  GAP" if decision.gap else ""
    say(f"   -> {decision.outcome.value} (rule {decision.rule}){gap}, status {state.status.value}  [{state.action_id}]")
    for reason in decision.reasons:
        say(f"      - {reason}")
    if state.pending is not None:
        say(f"      waiting on {state.pending.role}: {', '.join(state.pending.eligible)}")
    for step in state.steps:
        say(f"      {step.step}: {'ok' if step.ok else 'FAILED'} - {step.summary}")


def tour_when_ready(settings: Settings) -> Callable[[Client], Coroutine[Any, Any, None]]:
    """The tour as the `when_ready` hook of `cxgov up --tour`.

    Raises:
        Denied: CXGOV_SYSTEMS routes an action to a system that is not the built-in sandbox: checked here, before
            the stack starts, so `cxgov up --tour` refuses at once and starts nothing.
    """
    tool_sandbox(settings, tool="up --tour")

    async def hook(client: Client) -> None:
        failures = await run_tour(settings, say=print, client=client, tool="up --tour")
        print(f"\ntour finished: {len(STOPS) - failures}/{len(STOPS)} stops as expected. Still serving; Ctrl-C stops.")

    return hook
