"""Share-customer-data connector: send named customer fields to a known recipient. It cannot be undone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cxgov.errors import ConnectorRefused
from cxgov.sandbox.connectors.base import SandboxConnector, list_param, text_param
from cxgov.sandbox.connectors.orders import customer_reasons
from cxgov.sandbox.tables import Recipient, Share
from cxgov.wire import CompensateResult, ConnectorCall, VerifyResult

CUSTOMER_FIELDS = ("address", "name", "orders", "segment")
"""The customer fields a share may name."""


class ShareCustomerDataConnector(SandboxConnector[Share]):
    """Params: `recipient` (str), `fields` (list of customer field names)."""

    action = "share_customer_data"
    preconditions: dict[str, str] = {}
    effect_noun = "share"

    def _effect(self, session: Session, action_id: str) -> Share | None:
        return session.exec(select(Share).where(col(Share.action_id) == action_id)).first()

    def _reasons(
        self, session: Session, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime
    ) -> list[str]:
        return _standing(session, call)

    def _apply(self, session: Session, call: ConnectorCall) -> str:
        reasons = _standing(session, call)
        if reasons:
            raise ConnectorRefused(f"share {call.action_id} refused: {'; '.join(reasons)}", action=self.action)
        recipient, fields = text_param(call, "recipient"), list_param(call, "fields")
        session.add(Share(action_id=call.action_id, customer=call.customer, recipient=recipient, fields=fields))
        return f"shared {', '.join(fields)} of customer {call.customer} with {recipient}"

    def _repeat(self, call: ConnectorCall, prior: Share) -> str:
        recipient, fields = text_param(call, "recipient"), list_param(call, "fields")
        if (prior.customer, prior.recipient, prior.fields) != (call.customer, recipient, fields):
            raise ConnectorRefused(
                f"{call.action_id} already recorded a different share: {', '.join(prior.fields)} of "
                f"customer {prior.customer} with {prior.recipient}",
                action=self.action,
            )
        return f"{', '.join(prior.fields)} of customer {prior.customer} already shared with {prior.recipient}"

    def _read_back(self, session: Session, call: ConnectorCall, effect: Share) -> VerifyResult:
        return VerifyResult(
            ok=True,
            summary=f"{', '.join(effect.fields)} of customer {effect.customer} shared with {effect.recipient}",
        )

    def _undo(self, session: Session, call: ConnectorCall, effect: Share) -> CompensateResult:
        raise ConnectorRefused(
            f"irreversible: {', '.join(effect.fields)} of customer {effect.customer} were shared with "
            f"{effect.recipient} under {call.action_id}; a share cannot be recalled by the system of record",
            action=self.action,
        )

    def _describe(self, session: Session, call: ConnectorCall, *, without_own: bool = False) -> dict[str, Any]:
        recipient = text_param(call, "recipient")
        effect = None if without_own else self._effect(session, call.action_id)
        return {
            "customer": {"id": call.customer, "known": not customer_reasons(session=session, customer=call.customer)},
            "recipient": {"name": recipient, "known": session.get(Recipient, recipient) is not None},
            "share": None
            if effect is None
            else {"customer": effect.customer, "recipient": effect.recipient, "fields": effect.fields},
        }


def _standing(session: Session, call: ConnectorCall) -> list[str]:
    """The customer, the recipient and every field: checked at check and again in execute."""
    recipient, fields = text_param(call, "recipient"), list_param(call, "fields")
    reasons = customer_reasons(session=session, customer=call.customer)
    if session.get(Recipient, recipient) is None:
        known = session.exec(select(col(Recipient.name)).order_by(col(Recipient.name))).all()
        reasons.append(f"unknown recipient {recipient!r} (known: {', '.join(known) or 'none'})")
    if not fields:
        reasons.append("no customer fields named")
    for field in fields:
        if field not in CUSTOMER_FIELDS:
            reasons.append(f"unknown customer field {field!r} (known: {', '.join(CUSTOMER_FIELDS)})")
    return reasons
