"""The world and the request mix of `bench.load`: who asks for what through the HTTP API, and what must happen.

Every request is planned up front with its own action id, the key it is sent with and the outcome the
reference charter gives it, so the checks after the run can hold each answer to its plan:

- allowed: support-bot books an appointment or refunds at most approve_above; returns-sync refunds on its
  batch channel; a tier1 person (omar, priya) refunds within their own approve_above;
- escalated: the same refunds above approve_above, approved afterwards through the API by an eligible
  person of the first ladder step (approve_limit covering the amount, never the requester);
- denied: over max_amount, a channel or segment outside the grant, an excluded SKU, no grant at all, an
  actor overdue for recertification;
- bad input: malformed JSON, unknown fields or params, wrong types, a negative amount, a missing param, a
  request naming another actor: 4xx, and nothing may start.

support-bot's refunds share one budget (count and amount per rolling day): the mix keeps them under
BUDGET_HEADROOM of it, moving the rest to actors without a budget, so no request is denied by the order in
which concurrent requests happen to reserve.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from cxgov.charter import Charter, Grant
from cxgov.settings import EXAMPLES

Kind = Literal["allowed", "escalated", "denied", "bad_input"]
KINDS: tuple[Kind, ...] = ("allowed", "escalated", "denied", "bad_input")
REFERENCE_CHARTER = EXAMPLES / "charter.yaml"
CERTIFIED_ACTORS = ("support-bot", "returns-sync")
"""Kept certified in the bench's copy of the charter, so the mix does not expire with the reference dates;
insights-partner stays overdue, as in the reference (it is one of the denials)."""
CUSTOMERS = [f"C-L{n:02d}" for n in range(20)]
VIP = "C-LVIP"
SKU = "LOAD-SKU"
FINAL_SKU = "FINAL-LOAD"
CLINIC, SLOT = "load", "2030-06-01T09:00"
AGENTS = ("omar", "priya")
"""Human agents (role tier1) who refund under their role's grant."""
BUDGET_HEADROOM = Decimal("0.8")

ALLOWED = ("book", "refund-small", "refund-batch", "refund-agent")
ESCALATED = ("refund-over-approve", "refund-agent-over-approve")
DENIED = {
    "max-amount": "4-max-amount",
    "channel": "4-channel",
    "excluded-sku": "4-excluded-sku",
    "segment": "4-segment",
    "no-grant": "1-no-grant",
    "not-certified": "3-actor-not-certified",
    "batch-on-chat": "4-channel",
}
BAD_INPUT = {
    "malformed-json": 422,
    "unknown-field": 422,
    "unknown-param": 422,
    "wrong-type": 422,
    "negative-amount": 422,
    "missing-param": 422,
    "object-param": 422,
    "wait-text": 422,
    "other-actor": 403,
}


@dataclass
class Planned:
    """One request of the mix and what the charter says must become of it."""

    n: int
    kind: Kind
    variant: str
    principal: str
    """Whose key the request is sent with (the actor, or the human agent)."""
    action: str
    action_id: str
    body: dict[str, Any] | None = None
    raw: str | None = None
    """A body sent as it is (malformed JSON), instead of `body`."""
    amount: Decimal | None = None
    expect_http: int = 200
    expect_status: str | None = None
    expect_rule: str | None = None
    approver: str | None = None
    """The eligible person who approves an escalated request."""


@dataclass(frozen=True)
class Shares:
    """The mix: the share of each kind of request (normalized, so any non-negative weights do)."""

    allowed: float = 0.45
    escalated: float = 0.15
    denied: float = 0.20
    bad_input: float = 0.20

    def counts(self, total: int) -> dict[Kind, int]:
        """How many requests of each kind make `total` (largest remainders, so they add up exactly)."""
        weights = {kind: max(0.0, float(getattr(self, kind))) for kind in KINDS}
        whole = sum(weights.values())
        if whole <= 0:
            raise ValueError("at least one share must be above 0")
        exact = {kind: total * weight / whole for kind, weight in weights.items()}
        counts = {kind: int(value) for kind, value in exact.items()}
        for kind in sorted(KINDS, key=lambda k: counts[k] - exact[k])[: total - sum(counts.values())]:
            counts[kind] += 1
        return counts


@dataclass
class Mix:
    """The planned requests, in the order they are sent."""

    requests: list[Planned]
    budgeted: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)
    """(actor, action) -> planned count and amount of requests that reserve a budget share."""

    def of(self, kind: Kind) -> list[Planned]:
        return [planned for planned in self.requests if planned.kind == kind]


def certified_charter(directory: Path, *, source: Path = REFERENCE_CHARTER) -> Path:
    """A copy of the reference charter in `directory` with CERTIFIED_ACTORS recertified until 2099."""
    text = source.read_text(encoding="utf-8")
    for actor in CERTIFIED_ACTORS:
        text, found = re.subn(
            rf"^(\s+{re.escape(actor)}:.*recertify_by:\s*)\d{{4}}-\d{{2}}-\d{{2}}", r"\g<1>2099-12-31", text, flags=re.M
        )
        if found != 1:
            raise ValueError(f"{source}: no single recertify_by line for actor {actor}")
    path = directory / "charter.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_world(path: Path) -> None:
    """The sandbox seed: customers (standard and gold, one vip), one order each with a refundable line worth
    far more than the run refunds and a non-returnable one, and one clinic slot that never fills."""
    lines = ["customers:"]
    for n, customer in enumerate(CUSTOMERS):
        lines.append(f"  {customer}: {{name: Load Customer {n}, segment: {'gold' if n % 2 else 'standard'}}}")
    lines += [f"  {VIP}: {{name: Load VIP, segment: vip}}", "orders:"]
    for customer in [*CUSTOMERS, VIP]:
        lines += [
            f"  {order_of(customer)}:",
            f"    {{customer: {customer}, placed: -1h, address: 1 Load St, dispatched: false,",
            f"     lines: [{{sku: {SKU}, price: 1000000}}, {{sku: {FINAL_SKU}, price: 100}}]}}",
        ]
    lines += [
        "clinics:",
        f"  {CLINIC}:",
        f'    "{SLOT}": {{capacity: 1000000, booked: 0}}',
        "recipients: [load-partner]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def order_of(customer: str) -> str:
    return customer.replace("C-", "O-", 1)


def plan_mix(charter: Charter, *, count: int, shares: Shares, seed: int) -> Mix:
    """`count` requests in the proportions of `shares`, shuffled with `seed` so the kinds interleave."""
    counts = shares.counts(count)
    kinds = [kind for kind in KINDS for _ in range(counts[kind])]
    random.Random(seed).shuffle(kinds)
    mix = Mix(requests=[])
    seen: dict[Kind, int] = dict.fromkeys(KINDS, 0)
    for n, kind in enumerate(kinds):
        index = seen[kind]
        seen[kind] += 1
        mix.requests.append(_plan_one(charter, mix, n=n, kind=kind, index=index))
    return mix


def _plan_one(charter: Charter, mix: Mix, *, n: int, kind: Kind, index: int) -> Planned:
    customer = CUSTOMERS[n % len(CUSTOMERS)]
    if kind == "allowed":
        variant = ALLOWED[index % len(ALLOWED)]
        if variant == "refund-small" and not _fits_budget(charter, mix, "support-bot", _small(index)):
            variant = "refund-batch"
        planned = _allowed(variant, n=n, index=index, customer=customer)
    elif kind == "escalated":
        variant = ESCALATED[index % len(ESCALATED)]
        if variant == "refund-over-approve" and not _fits_budget(charter, mix, "support-bot", _over(index)):
            variant = "refund-agent-over-approve"
        planned = _escalated(charter, variant, n=n, index=index, customer=customer)
    elif kind == "denied":
        variant = list(DENIED)[index % len(DENIED)]
        planned = _denied(variant, n=n, customer=customer)
    else:
        variant = list(BAD_INPUT)[index % len(BAD_INPUT)]
        planned = _bad(variant, n=n, customer=customer)
    grant = _grant(charter, planned.principal, planned.action) if planned.expect_status == "completed" else None
    if grant is not None and grant.budget is not None:
        used, spent = mix.budgeted.get((planned.principal, planned.action), (0, Decimal(0)))
        mix.budgeted[planned.principal, planned.action] = (used + 1, spent + (planned.amount or Decimal(0)))
    return planned


def _fits_budget(charter: Charter, mix: Mix, actor: str, amount: Decimal) -> bool:
    grant = _grant(charter, actor, "refund")
    budget = grant.budget if grant is not None else None
    if budget is None:
        return True
    used, spent = mix.budgeted.get((actor, "refund"), (0, Decimal(0)))
    if budget.count is not None and used + 1 > int(budget.count * BUDGET_HEADROOM):
        return False
    return budget.amount is None or spent + amount <= budget.amount * BUDGET_HEADROOM


def _grant(charter: Charter, principal: str, action: str) -> Grant | None:
    person = charter.people.get(principal)
    return charter.grant_for(actor=principal, roles=person.roles if person else [], action=action)


def _small(index: int) -> Decimal:
    return Decimal(f"{5 + index % 9}.{index * 7 % 100:02d}")


def _over(index: int) -> Decimal:
    return Decimal(f"{51 + index % 10}.{index % 100:02d}")


def _action_id() -> str:
    return f"action-{uuid.uuid4()}"


def _request(principal: str, action: str, customer: str, params: dict[str, Any], *, channel: str = "chat") -> Planned:
    body = {"action": action, "customer": customer, "channel": channel, "reason": f"load: {action}", "params": params}
    return Planned(n=0, kind="allowed", variant="", principal=principal, action=action, action_id="", body=body)


def _refund(principal: str, customer: str, amount: Decimal | str, *, channel: str = "chat", sku: str = SKU) -> Planned:
    params = {"order_id": order_of(customer), "sku": sku, "amount": str(amount)}
    return _request(principal, "refund", customer, params, channel=channel)


def _finish(planned: Planned, *, n: int, kind: Kind, variant: str, **expect: Any) -> Planned:
    planned.n, planned.kind, planned.variant = n, kind, variant
    planned.action_id = _action_id()
    if planned.body is not None:
        planned.body = {**planned.body, "action_id": planned.action_id, "wait": 60}
        amount = planned.body.get("params", {}).get("amount")
        if isinstance(amount, str) and re.fullmatch(r"\d+(\.\d+)?", amount):
            planned.amount = Decimal(amount)
    for name, value in expect.items():
        setattr(planned, name, value)
    return planned


def _allowed(variant: str, *, n: int, index: int, customer: str) -> Planned:
    if variant == "book":
        planned = _request("support-bot", "book_appointment", customer, {"clinic": CLINIC, "slot": SLOT})
    elif variant == "refund-small":
        planned = _refund("support-bot", customer, _small(index), channel=("chat", "email")[index % 2])
    elif variant == "refund-batch":
        planned = _refund("returns-sync", customer, Decimal(f"{20 + index % 400}.50"), channel="batch")
    else:
        planned = _refund(AGENTS[index % len(AGENTS)], customer, Decimal(f"{30 + index % 250}.25"))
    return _finish(planned, n=n, kind="allowed", variant=variant, expect_status="completed", expect_rule="6-allow")


def _escalated(charter: Charter, variant: str, *, n: int, index: int, customer: str) -> Planned:
    if variant == "refund-over-approve":
        planned = _refund("support-bot", customer, _over(index))
    else:
        planned = _refund(AGENTS[index % len(AGENTS)], customer, Decimal(301 + index % 600))
    planned = _finish(planned, n=n, kind="escalated", variant=variant, expect_status="completed")
    planned.expect_rule = "5-approve-above"
    planned.approver = eligible_approver(charter, planned, turn=index)
    return planned


def eligible_approver(charter: Charter, planned: Planned, *, turn: int) -> str:
    """Who approves: a person of the first ladder step whose approve_limit covers the amount, never the
    requester; eligible people take turns."""
    ladder = charter.ladder(planned.action) or []
    if not ladder:
        raise ValueError(f"{planned.action} has no approval ladder")
    eligible = [
        name
        for name, limit in ladder[0].approvers
        if name != planned.principal and planned.amount is not None and limit is not None and planned.amount <= limit
    ]
    if not eligible:
        raise ValueError(f"nobody on the first ladder step of {planned.action} may approve {planned.amount}")
    return eligible[turn % len(eligible)]


def _denied(variant: str, *, n: int, customer: str) -> Planned:
    if variant == "max-amount":
        planned = _refund("support-bot", customer, "250.00")
    elif variant == "channel":
        planned = _refund("support-bot", customer, "10.00", channel="phone")
    elif variant == "excluded-sku":
        planned = _refund("support-bot", customer, "10.00", sku=FINAL_SKU)
    elif variant == "segment":
        planned = _refund("support-bot", VIP, "10.00")
    elif variant == "batch-on-chat":
        planned = _refund("returns-sync", customer, "10.00")
    else:
        principal = "support-bot" if variant == "no-grant" else "insights-partner"
        params = {"recipient": "load-partner", "fields": ["name"]}
        planned = _request(principal, "share_customer_data", customer, params, channel="api")
    rule = DENIED[variant]
    return _finish(planned, n=n, kind="denied", variant=variant, expect_status="denied", expect_rule=rule)


def _bad(variant: str, *, n: int, customer: str) -> Planned:
    planned = _finish(_refund("support-bot", customer, "10.00"), n=n, kind="bad_input", variant=variant)
    planned.amount = None
    planned.expect_http = BAD_INPUT[variant]
    body = planned.body
    assert body is not None
    params = dict(body["params"])
    if variant == "malformed-json":
        planned.raw, planned.body = json.dumps(body)[:-10], None
        return planned
    if variant == "unknown-field":
        body["priority"] = "high"
    elif variant == "unknown-param":
        params["coupon"] = "LOAD10"
    elif variant == "wrong-type":
        params["amount"] = "a lot"
    elif variant == "negative-amount":
        params["amount"] = "-5.00"
    elif variant == "missing-param":
        del params["sku"]
    elif variant == "object-param":
        params["order_id"] = {"id": order_of(customer)}
    elif variant == "wait-text":
        body["wait"] = "soon"
    else:
        body["actor"] = "returns-sync"
    body["params"] = params
    return planned
