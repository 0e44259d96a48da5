"""Book-appointment connector: take a seat in a clinic slot for a customer; undone by cancelling it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select, update

from cxgov.errors import ConnectorRefused
from cxgov.sandbox.connectors.base import SandboxConnector, text_param
from cxgov.sandbox.connectors.orders import customer_reasons
from cxgov.sandbox.fixture import DRILL_CLINIC, DRILL_SLOT
from cxgov.sandbox.tables import Booking, ClinicSlot
from cxgov.sandbox.world import describe_booking
from cxgov.wire import CompensateResult, ConnectorCall, VerifyResult


class BookAppointmentConnector(SandboxConnector[Booking]):
    """Params: `clinic` (str), `slot` (str, as the seed names it: `2026-12-01T09:00`)."""

    action = "book_appointment"
    preconditions = {"capacity": "the clinic's slot has room"}
    effect_noun = "booking"
    drill_params = {"clinic": DRILL_CLINIC, "slot": DRILL_SLOT}

    def _effect(self, session: Session, action_id: str) -> Booking | None:
        return session.exec(select(Booking).where(col(Booking.action_id) == action_id)).first()

    def _reasons(
        self, session: Session, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime
    ) -> list[str]:
        seats, reasons = _standing(session, call)
        if seats is not None and "capacity" in preconditions and seats.booked >= seats.capacity:
            reasons.append(f"precondition capacity is false: {_full(seats)}")
        return reasons

    def _apply(self, session: Session, call: ConnectorCall) -> str:
        seats, reasons = _standing(session, call)
        if seats is None or reasons:
            raise ConnectorRefused(f"booking {call.action_id} refused: {'; '.join(reasons)}", action=self.action)
        # The seat is taken by one conditional UPDATE, so the database decides who gets the last one.
        taken = session.exec(
            update(ClinicSlot)
            .where(
                col(ClinicSlot.clinic) == seats.clinic,
                col(ClinicSlot.slot) == seats.slot,
                col(ClinicSlot.booked) < col(ClinicSlot.capacity),
            )
            .values(booked=col(ClinicSlot.booked) + 1)
        )
        if taken.rowcount != 1:
            raise ConnectorRefused(f"booking {call.action_id} refused: {_full(seats)}", action=self.action)
        session.add(Booking(action_id=call.action_id, customer=call.customer, clinic=seats.clinic, slot=seats.slot))
        return f"booked clinic {seats.clinic} slot {seats.slot} for customer {call.customer}"

    def _repeat(self, call: ConnectorCall, prior: Booking) -> str:
        clinic, slot = text_param(call, "clinic"), text_param(call, "slot")
        if (prior.customer, prior.clinic, prior.slot) != (call.customer, clinic, slot):
            raise ConnectorRefused(
                f"{call.action_id} already recorded a different booking: clinic {prior.clinic} slot "
                f"{prior.slot} for customer {prior.customer}",
                action=self.action,
            )
        state = "later cancelled" if prior.cancelled else "already booked"
        return f"clinic {prior.clinic} slot {prior.slot} was {state} by {call.action_id}; not applied again"

    def _read_back(self, session: Session, call: ConnectorCall, effect: Booking) -> VerifyResult:
        what = f"booking of clinic {effect.clinic} slot {effect.slot} for customer {effect.customer}"
        if effect.cancelled:
            return VerifyResult(ok=False, summary=f"{what} was cancelled")
        return VerifyResult(ok=True, summary=f"{what} is in place")

    def _undo(self, session: Session, call: ConnectorCall, effect: Booking) -> CompensateResult:
        what = f"booking of clinic {effect.clinic} slot {effect.slot} for customer {effect.customer}"
        if effect.cancelled:
            return CompensateResult(undone=True, summary=f"already undone: {what} was cancelled before")
        session.exec(
            update(ClinicSlot)
            .where(
                col(ClinicSlot.clinic) == effect.clinic,
                col(ClinicSlot.slot) == effect.slot,
                col(ClinicSlot.booked) > 0,
            )
            .values(booked=col(ClinicSlot.booked) - 1)
        )
        effect.cancelled = True
        session.add(effect)
        return CompensateResult(undone=True, summary=f"cancelled {what}")

    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        seats = session.get(ClinicSlot, (text_param(call, "clinic"), text_param(call, "slot")))
        effect = self._effect(session, call.action_id)
        held = effect is not None and not effect.cancelled
        own_seat = 1 if without_own and held else 0  # the seat this action's booking holds
        return {
            "slot": None
            if seats is None
            else {
                "clinic": seats.clinic,
                "slot": seats.slot,
                "capacity": seats.capacity,
                "booked": seats.booked - own_seat,
            },
            "booking": None
            if effect is None or effect.cancelled or without_own
            else {**describe_booking(effect), "cancelled": effect.cancelled},
        }


def _standing(session: Session, call: ConnectorCall) -> tuple[ClinicSlot | None, list[str]]:
    """The slot, and the customer, clinic and slot existing: checked at check and again in execute."""
    clinic, slot = text_param(call, "clinic"), text_param(call, "slot")
    reasons = customer_reasons(session=session, customer=call.customer)
    seats = session.get(ClinicSlot, (clinic, slot))
    if seats is not None:
        return seats, reasons
    slots = session.exec(select(col(ClinicSlot.slot)).where(col(ClinicSlot.clinic) == clinic)).all()
    if not slots:
        clinics = sorted(set(session.exec(select(col(ClinicSlot.clinic))).all()))
        reasons.append(f"unknown clinic {clinic!r} (clinics: {', '.join(clinics) or 'none'})")
    else:
        reasons.append(f"clinic {clinic} has no slot {slot!r} (its slots: {', '.join(sorted(slots))})")
    return None, reasons


def _full(seats: ClinicSlot) -> str:
    return f"clinic {seats.clinic} slot {seats.slot} is full ({seats.booked} of {seats.capacity} booked)"
