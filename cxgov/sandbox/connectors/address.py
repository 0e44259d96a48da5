"""Change-address connector: change where an order ships; reversible until the order is dispatched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cxgov.errors import ConnectorRefused
from cxgov.sandbox.connectors.base import SandboxConnector, moment_text, text_param
from cxgov.sandbox.connectors.orders import ORDER_PRECONDITIONS, order_precondition_reasons, owned_order
from cxgov.sandbox.fixture import DRILL_ORDER
from cxgov.sandbox.tables import AddressChange, Order
from cxgov.sandbox.world import describe_order
from cxgov.wire import CompensateResult, ConnectorCall, VerifyResult


class ChangeAddressConnector(SandboxConnector[AddressChange]):
    """Params: `order_id` (str), `address` (str)."""

    action = "change_address"
    preconditions = ORDER_PRECONDITIONS
    effect_noun = "address change"
    drill_params = {"order_id": DRILL_ORDER, "address": "2 Drill Lane"}

    def _effect(self, session: Session, action_id: str) -> AddressChange | None:
        return session.exec(select(AddressChange).where(col(AddressChange.action_id) == action_id)).first()

    def _reasons(
        self, session: Session, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime
    ) -> list[str]:
        order, reasons = _standing(session, call)
        if order is not None:
            reasons += order_precondition_reasons(order=order, preconditions=preconditions, now=now)
        return reasons

    def _apply(self, session: Session, call: ConnectorCall) -> str:
        order, reasons = _standing(session, call)
        if order is None or reasons:
            raise ConnectorRefused(f"address change {call.action_id} refused: {'; '.join(reasons)}", action=self.action)
        old, new = order.address, text_param(call, "address")
        session.add(AddressChange(action_id=call.action_id, order_id=order.id, old=old, new=new))
        order.address = new
        session.add(order)
        return f"order {order.id} now ships to {new!r} (was {old!r})"

    def _repeat(self, call: ConnectorCall, prior: AddressChange) -> str:
        order_id, address = text_param(call, "order_id"), text_param(call, "address")
        if (prior.order_id, prior.new) != (order_id, address):
            raise ConnectorRefused(
                f"{call.action_id} already recorded a different address change: order {prior.order_id} "
                f"to {prior.new!r}",
                action=self.action,
            )
        state = "later reverted" if prior.reverted else "already recorded"
        return f"address change of order {prior.order_id} to {prior.new!r} was {state}; not applied again"

    def _read_back(self, session: Session, call: ConnectorCall, effect: AddressChange) -> VerifyResult:
        if effect.reverted:
            return VerifyResult(
                ok=False, summary=f"address change of order {effect.order_id} to {effect.new!r} was reverted"
            )
        order = session.get(Order, effect.order_id)
        if order is None:
            return VerifyResult(ok=False, summary=f"order {effect.order_id} no longer exists")
        if order.address != effect.new:
            return VerifyResult(ok=False, summary=f"order {order.id} ships to {order.address!r}, not {effect.new!r}")
        return VerifyResult(ok=True, summary=f"order {order.id} ships to {effect.new!r}")

    def _undo(self, session: Session, call: ConnectorCall, effect: AddressChange) -> CompensateResult:
        if effect.reverted:
            return CompensateResult(
                undone=True,
                summary=f"already undone: order {effect.order_id} was restored to {effect.old!r} before",
            )
        order = session.get(Order, effect.order_id)
        if order is None:
            raise ConnectorRefused(f"order {effect.order_id} no longer exists", action=self.action)
        if order.dispatched:
            when = "" if order.dispatched_at is None else f" at {moment_text(order.dispatched_at)}"
            raise ConnectorRefused(
                f"order {order.id} was dispatched{when} to {order.address!r}; its address can no longer be restored",
                action=self.action,
            )
        if order.address != effect.new:
            # A later change owns the address now; restoring ours would silently undo theirs.
            raise ConnectorRefused(
                f"order {order.id} now ships to {order.address!r}, not {effect.new!r}: it changed again "
                f"since {call.action_id}; {effect.old!r} was not restored",
                action=self.action,
            )
        order.address = effect.old
        effect.reverted = True
        session.add(order)
        session.add(effect)
        return CompensateResult(undone=True, summary=f"order {order.id} ships to {effect.old!r} again")

    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        order_id = text_param(call, "order_id")
        order = session.get(Order, order_id)
        effect = self._effect(session, call.action_id)
        in_place = effect is not None and not effect.reverted
        described = None if order is None else {"id": order.id, **describe_order(order)}
        if without_own and in_place and described is not None and effect is not None:
            described["address"] = effect.old
        return {
            "order": described,
            "address_change": None
            if effect is None or effect.reverted or without_own
            else {"old": effect.old, "new": effect.new, "reverted": effect.reverted},
        }


def _standing(session: Session, call: ConnectorCall) -> tuple[Order | None, list[str]]:
    """The order, and ownership, cancellation and the new address: checked at check and in execute."""
    order_id, address = text_param(call, "order_id"), text_param(call, "address")
    order, reasons = owned_order(session=session, order_id=order_id, customer=call.customer)
    if not address.strip():
        reasons.append("the new address is empty")
    if order is not None and order.cancelled:
        reasons.append(f"order {order_id} is cancelled")
    return order, reasons
