"""Injected faults: make a connector step fail or pause a set number of times, for demos and crash tests.

Steps:
    execute: execute raises RuntimeError after its effect is committed (a retry finds it applied).
    pause: execute sleeps `delay_seconds` after its effect is committed, before it returns.
    verify: verify reports ok=False, "injected fault".
    compensate: compensate raises RuntimeError before doing anything.
    pause-compensate: compensate sleeps `delay_seconds` after its undo is committed, before it returns.

The two execute-time faults are consulted only by a call that applied the effect, so a retry that finds
the effect already in place returns normally (applied=False) and leaves the remaining faults armed.
"""

from __future__ import annotations

from sqlmodel import Session, col, select, update

from cxgov.errors import BadRequest
from cxgov.sandbox.tables import Fault

FAULT_STEPS = ("verify", "compensate", "execute", "pause", "pause-compensate")


def add_fault(*, session: Session, action: str, step: str, times: int, delay_seconds: float) -> None:
    """Arm `times` more faults of `step` on `action`; a pause sleeps `delay_seconds` (the latest given)."""
    if step not in FAULT_STEPS:
        raise BadRequest(f"unknown fault step {step!r}; steps: {', '.join(FAULT_STEPS)}", field="step")
    if times < 1:
        raise BadRequest(f"a fault must fire at least once, got times={times}", field="times")
    if delay_seconds < 0:
        raise BadRequest(f"delay_seconds cannot be negative, got {delay_seconds}", field="delay_seconds")
    fault = session.exec(select(Fault).where(col(Fault.action) == action, col(Fault.step) == step)).first()
    if fault is None:
        session.add(Fault(action=action, step=step, remaining=times, delay_seconds=delay_seconds))
        return
    fault.remaining += times
    fault.delay_seconds = delay_seconds
    session.add(fault)


def fault_armed(*, session: Session, action: str, step: str) -> bool:
    """Whether a fault of `step` on `action` is armed (a read; `take_fault` consumes it)."""
    armed = select(Fault.action).where(col(Fault.action) == action, col(Fault.step) == step, col(Fault.remaining) > 0)
    return session.exec(armed).first() is not None


def take_fault(*, session: Session, action: str, step: str) -> float | None:
    """Consume one armed fault of `step` on `action`: its delay in seconds, or None when none is armed."""
    statement = (
        update(Fault)
        .where(col(Fault.action) == action, col(Fault.step) == step, col(Fault.remaining) > 0)
        .values(remaining=col(Fault.remaining) - 1)
        .returning(col(Fault.delay_seconds))
    )
    delay = session.exec(statement).scalar_one_or_none()
    return None if delay is None else float(delay)
