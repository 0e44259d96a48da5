"""Refund connector: refund an amount on one line of a customer's order, reversible until payout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from cxgov.errors import ConnectorRefused
from cxgov.sandbox.connectors.base import SandboxConnector, money_param, text_param
from cxgov.sandbox.connectors.orders import ORDER_PRECONDITIONS, order_precondition_reasons, owned_order
from cxgov.sandbox.fixture import DRILL_ORDER, DRILL_SKU
from cxgov.sandbox.tables import Order, OrderLine, Refund
from cxgov.wire import CompensateResult, ConnectorCall, VerifyResult


class RefundConnector(SandboxConnector[Refund]):
    """Params: `order_id` (str), `sku` (str), `amount` (money)."""

    action = "refund"
    preconditions = ORDER_PRECONDITIONS
    effect_noun = "refund"
    drill_params = {"order_id": DRILL_ORDER, "sku": DRILL_SKU, "amount": Decimal("10")}

    def _effect(self, session: Session, action_id: str) -> Refund | None:
        return session.exec(select(Refund).where(col(Refund.action_id) == action_id)).first()

    def _reasons(
        self, session: Session, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime
    ) -> list[str]:
        order_id, sku, amount = _params(call)
        reasons = _standing_reasons(session, call, order_id=order_id, sku=sku, amount=amount)
        order, _ = owned_order(session=session, order_id=order_id, customer=call.customer)
        if order is not None:
            reasons += order_precondition_reasons(order=order, preconditions=preconditions, now=now)
        return reasons

    def _apply(self, session: Session, call: ConnectorCall) -> str:
        order_id, sku, amount = _params(call)
        reasons = _standing_reasons(session, call, order_id=order_id, sku=sku, amount=amount)
        if reasons:
            raise ConnectorRefused(f"refund {call.action_id} refused: {'; '.join(reasons)}", action=self.action)
        session.add(Refund(action_id=call.action_id, order_id=order_id, sku=sku, amount=amount))
        return f"refunded {amount} on order {order_id} line {sku}"

    def _repeat(self, call: ConnectorCall, prior: Refund) -> str:
        order_id, sku, amount = _params(call)
        if (prior.order_id, prior.sku, prior.amount) != (order_id, sku, amount):
            raise ConnectorRefused(
                f"{call.action_id} already recorded a different refund: {prior.amount} on order "
                f"{prior.order_id} line {prior.sku}",
                action=self.action,
            )
        state = "later reversed" if prior.reversed else "already recorded"
        return f"refund of {prior.amount} on order {prior.order_id} line {prior.sku} was {state}; not applied again"

    def _read_back(self, session: Session, call: ConnectorCall, effect: Refund) -> VerifyResult:
        what = f"refund of {effect.amount} on order {effect.order_id} line {effect.sku}"
        if effect.reversed:
            return VerifyResult(ok=False, summary=f"{what} was reversed")
        state = "paid out" if effect.paid_out else "pending payout"
        return VerifyResult(ok=True, summary=f"{what} is recorded ({state})")

    def _undo(self, session: Session, call: ConnectorCall, effect: Refund) -> CompensateResult:
        what = f"refund of {effect.amount} on order {effect.order_id} line {effect.sku}"
        if effect.reversed:
            return CompensateResult(undone=True, summary=f"already undone: {what} was reversed before")
        if effect.paid_out:
            raise ConnectorRefused(f"{what} was paid out; it can no longer be reversed", action=self.action)
        effect.reversed = True
        session.add(effect)
        return CompensateResult(undone=True, summary=f"reversed {what}")

    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        order_id, sku, _ = _params(call)
        order = session.get(Order, order_id)
        line = session.get(OrderLine, (order_id, sku))
        effect = None if without_own else self._effect(session, call.action_id)
        refunded = _refunded(session, order_id=order_id, sku=sku, excluding=call.action_id if without_own else None)
        return {
            "order": None
            if order is None
            else {"id": order.id, "customer": order.customer, "dispatched": order.dispatched},
            "line": None
            if line is None
            else {
                "sku": line.sku,
                "price": str(line.price),
                "refunded": str(refunded),
                "left": str(line.price - refunded),
            },
            "refund": None
            if effect is None or effect.reversed
            else {"amount": str(effect.amount), "paid_out": effect.paid_out, "reversed": effect.reversed},
        }


def _params(call: ConnectorCall) -> tuple[str, str, Decimal]:
    return text_param(call, "order_id"), text_param(call, "sku"), money_param(call, "amount")


def _refunded(session: Session, *, order_id: str, sku: str, excluding: str | None = None) -> Decimal:
    """What stands refunded on one line: every refund not reversed, paid out or not (but the one `excluding`)."""
    conditions = [col(Refund.order_id) == order_id, col(Refund.sku) == sku, col(Refund.reversed).is_(False)]
    if excluding is not None:
        conditions.append(col(Refund.action_id) != excluding)
    return sum(session.exec(select(col(Refund.amount)).where(*conditions)), Decimal(0))


def _standing_reasons(session: Session, call: ConnectorCall, *, order_id: str, sku: str, amount: Decimal) -> list[str]:
    """Ownership, the line, and the amount: checked at every check and again inside execute."""
    order, reasons = owned_order(session=session, order_id=order_id, customer=call.customer)
    if amount <= 0:
        reasons.append(f"a refund must be more than 0, got {amount}")
    if order is None:
        return reasons
    line = session.get(OrderLine, (order_id, sku))
    if line is None:
        skus = session.exec(select(col(OrderLine.sku)).where(col(OrderLine.order_id) == order_id)).all()
        reasons.append(f"SKU {sku} is not a line of order {order_id} (its lines: {', '.join(sorted(skus))})")
        return reasons
    left = line.price - _refunded(session, order_id=order_id, sku=sku)
    if amount > left:
        reasons.append(
            f"refund of {amount} exceeds what is left to refund on order {order_id} line {sku}: {left} of {line.price}"
        )
    return reasons
