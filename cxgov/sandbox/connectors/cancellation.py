"""Cancel-order connector: cancel a customer's order; undone by reinstating it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cxgov.errors import ConnectorRefused
from cxgov.sandbox.connectors.base import SandboxConnector, text_param
from cxgov.sandbox.connectors.orders import ORDER_PRECONDITIONS, order_precondition_reasons, owned_order
from cxgov.sandbox.fixture import DRILL_ORDER
from cxgov.sandbox.tables import Cancellation, Order
from cxgov.sandbox.world import describe_order
from cxgov.wire import CompensateResult, ConnectorCall, VerifyResult


class CancelOrderConnector(SandboxConnector[Cancellation]):
    """Params: `order_id` (str)."""

    action = "cancel_order"
    preconditions = ORDER_PRECONDITIONS
    effect_noun = "cancellation"
    drill_params = {"order_id": DRILL_ORDER}

    def _effect(self, session: Session, action_id: str) -> Cancellation | None:
        return session.exec(select(Cancellation).where(col(Cancellation.action_id) == action_id)).first()

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
            raise ConnectorRefused(f"cancellation {call.action_id} refused: {'; '.join(reasons)}", action=self.action)
        session.add(Cancellation(action_id=call.action_id, order_id=order.id))
        order.cancelled = True
        session.add(order)
        return f"order {order.id} cancelled"

    def _repeat(self, call: ConnectorCall, prior: Cancellation) -> str:
        order_id = text_param(call, "order_id")
        if prior.order_id != order_id:
            raise ConnectorRefused(
                f"{call.action_id} already recorded the cancellation of a different order: {prior.order_id}",
                action=self.action,
            )
        state = "later reinstated" if prior.reinstated else "already cancelled"
        return f"order {prior.order_id} was {state} by {call.action_id}; not applied again"

    def _read_back(self, session: Session, call: ConnectorCall, effect: Cancellation) -> VerifyResult:
        if effect.reinstated:
            return VerifyResult(ok=False, summary=f"order {effect.order_id} was reinstated")
        order = session.get(Order, effect.order_id)
        if order is None or not order.cancelled:
            return VerifyResult(ok=False, summary=f"order {effect.order_id} is not cancelled")
        return VerifyResult(ok=True, summary=f"order {effect.order_id} is cancelled")

    def _undo(self, session: Session, call: ConnectorCall, effect: Cancellation) -> CompensateResult:
        if effect.reinstated:
            return CompensateResult(
                undone=True, summary=f"already undone: order {effect.order_id} was reinstated before"
            )
        order = session.get(Order, effect.order_id)
        if order is None:
            raise ConnectorRefused(f"order {effect.order_id} no longer exists", action=self.action)
        order.cancelled = False
        effect.reinstated = True
        session.add(order)
        session.add(effect)
        return CompensateResult(undone=True, summary=f"order {order.id} reinstated")

    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        order = session.get(Order, text_param(call, "order_id"))
        effect = self._effect(session, call.action_id)
        in_place = effect is not None and not effect.reinstated
        described = None if order is None else {"id": order.id, **describe_order(order)}
        if without_own and in_place and described is not None:
            described["cancelled"] = False
        return {
            "order": described,
            "cancellation": None
            if effect is None or effect.reinstated or without_own
            else {"reinstated": effect.reinstated},
        }


def _standing(session: Session, call: ConnectorCall) -> tuple[Order | None, list[str]]:
    """The order, and ownership and cancellation: checked at check and again in execute."""
    order_id = text_param(call, "order_id")
    order, reasons = owned_order(session=session, order_id=order_id, customer=call.customer)
    if order is not None and order.cancelled:
        reasons.append(f"order {order_id} was already cancelled")
    return order, reasons
