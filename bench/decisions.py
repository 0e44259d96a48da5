"""Decision speed: `cxgov.policy.decide` against Cedar (cedarpy) on one large charter and one workload.

The charter has 200 actors x 40 actions and a grant for every pair (8,000 grants), each with max_amount,
approve_above, segments and channels. The workload mixes requests that cxgov allows, escalates and denies
(amount over max_amount, segment or channel outside the grant, unknown customer, unknown actor). Facts (the
customer's segment) are computed before timing, as the authorize activity computes them before deciding.

Cedar gets the same charter as one permit policy per grant:

    permit(principal == Actor::"bot-007", action == Action::"act-12", resource is Customer)
    when { context.amount <= <max_amount in cents> && [segments].contains(resource.segment)
           && [channels].contains(context.channel) };

parsed once into a `PolicySet`, with the customers (and their segments) parsed once into an `Entities`
handle and each request's context serialized before timing: cedarpy's fastest per-call mode. Cedar's
Allow is compared with cxgov's "allow or escalate" (both mean "within the grant's scope"), and Deny with
cxgov's deny. That scope-only policy set is the timed baseline for `decision_speed_vs_cedar`: it does less
than `decide` (no escalate, no reasons), so the ratio does not flatter cxgov. A second set adds, per
grant, an `@id("g<n>-auto")` permit for amount <= approve_above; an Allow whose determining policies
include an auto policy is allow, otherwise escalate. It is timed too, and its three-way agreement printed.

Cedar's authorizer evaluates every policy of the set for every request (measured here: about 1.5 us per
policy, linear from 200 to 8,000 policies), so a policy per grant is slow in Cedar by construction. For
scale, a last line times the attribute-based way to write the same charter in Cedar: one policy, the grants
as 8,000 `Grant` entities with their limits as attributes, and the request naming its grant as the resource.

Run: `.venv/bin/python -m bench.decisions [--requests 20000] [--cedar-requests 2000] [--cedar-extra-requests 500]`.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import cedarpy
from ruamel.yaml import YAML

from cxgov.charter import Charter, load_charter
from cxgov.policy import Facts, decide
from cxgov.wire import ActionRequest, Decision, Outcome

TODAY = date(2026, 12, 1)
"""Every generated actor is certified until 2027-06-01, so rule 3 never denies."""
SEGMENTS = ("standard", "gold", "vip", "smb")
CHANNELS = ("chat", "email", "phone", "batch")
CUSTOMERS_PER_SEGMENT = 50
LIMITS = (100, 200, 500, 1000, 2000)

# The workload's mix: what each request is built to hit, and how often.
INTENTS: dict[str, int] = {
    "allow": 45,
    "escalate": 25,
    "over-max": 8,
    "segment": 8,
    "channel": 8,
    "unknown-customer": 2,
    "unknown-actor": 4,
}


@dataclass(frozen=True)
class GrantSpec:
    """One generated grant, kept as plain data to build both the charter and the Cedar policy."""

    actor: str
    action: str
    max_amount: int
    approve_above: int
    segments: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One request with its facts, and the same request as Cedar sees it."""

    intent: str
    request: ActionRequest
    facts: Facts
    cedar: dict[str, Any]
    cedar_by_grant: dict[str, Any]
    """The same request for the attribute-based policy: the resource is the grant, the segment in the context."""


@dataclass(frozen=True)
class Timing:
    """Per-call latencies of one engine over one list of requests."""

    name: str
    latencies_ns: list[int]

    @property
    def count(self) -> int:
        return len(self.latencies_ns)

    @property
    def seconds(self) -> float:
        return sum(self.latencies_ns) / 1e9

    @property
    def per_decision_seconds(self) -> float:
        return self.seconds / self.count

    def percentile_us(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000

    def line(self) -> str:
        return (
            f"{self.name}: {self.count} decisions in {self.seconds:.3f} s: {self.count / self.seconds:,.0f} decisions/s, "
            f"mean {self.per_decision_seconds * 1e6:.1f} us, p50 {self.percentile_us(0.50):.1f} us, "
            f"p99 {self.percentile_us(0.99):.1f} us"
        )


def actor_name(index: int) -> str:
    return f"bot-{index:03d}"


def action_name(index: int) -> str:
    return f"act-{index:02d}"


def generate_grants(*, actors: int, actions: int, rng: random.Random) -> list[GrantSpec]:
    """A grant for every (actor, action) pair, actors outer, so `grants_for(action)` lists every actor."""
    grants = []
    for i in range(actors):
        for j in range(actions):
            max_amount = rng.choice(LIMITS)
            grants.append(
                GrantSpec(
                    actor=actor_name(i),
                    action=action_name(j),
                    max_amount=max_amount,
                    approve_above=max_amount // rng.choice((2, 4, 5)),
                    # At most three of four, so every grant has a segment and a channel outside it.
                    segments=tuple(sorted(rng.sample(SEGMENTS, rng.randint(1, 3)), key=SEGMENTS.index)),
                    channels=tuple(sorted(rng.sample(CHANNELS, rng.randint(1, 3)), key=CHANNELS.index)),
                )
            )
    return grants


def charter_source(*, actors: int, actions: int, grants: Sequence[GrantSpec]) -> dict[str, Any]:
    """The charter as the plain data a charter YAML file holds."""
    return {
        "charter": "bench",
        "version": 1,
        "currency": "USD",
        "retention_days": 2555,
        "drills": {"every": "30d", "max_age": "90d"},
        "required_signoffs": ["legal"],
        "signoffs": [{"function": "legal", "by": "dana", "on": "2026-11-20"}],
        "people": {
            "ana": {"roles": ["support-lead"], "approve_limit": 5000},
            "dana": {"roles": ["legal"]},
        },
        "roles": {"support-lead": {}, "legal": {}},
        "actors": {
            actor_name(i): {"kind": "ai_agent", "owner": "ana", "recertify_by": "2027-06-01"} for i in range(actors)
        },
        "actions": {
            action_name(j): {
                "summary": f"Generated action {j}",
                "params": {"order_id": "string", "amount": "money"},
                "reversal": {"kind": "always", "procedure": "Undo it", "owner": "support-lead"},
                "approval": {"ladder": ["support-lead"], "step_timeout": "1h"},
            }
            for j in range(actions)
        },
        "grants": [
            {
                "actor": grant.actor,
                "action": grant.action,
                "max_amount": grant.max_amount,
                "approve_above": grant.approve_above,
                "segments": list(grant.segments),
                "channels": list(grant.channels),
            }
            for grant in grants
        ],
    }


def cedar_policy(index: int, grant: GrantSpec, *, limit_cents: int, kind: str) -> str:
    segments = ", ".join(json.dumps(segment) for segment in grant.segments)
    channels = ", ".join(json.dumps(channel) for channel in grant.channels)
    return (
        f'@id("g{index}-{kind}")\n'
        f'permit(principal == Actor::"{grant.actor}", action == Action::"{grant.action}", resource is Customer)\n'
        f"when {{ context.amount <= {limit_cents} && [{segments}].contains(resource.segment) "
        f"&& [{channels}].contains(context.channel) }};\n"
    )


def cedar_policies(grants: Sequence[GrantSpec], *, three_way: bool) -> str:
    """One permit per grant for scope (amount <= max_amount); with `three_way`, one more for approve_above."""
    texts = []
    for index, grant in enumerate(grants):
        texts.append(cedar_policy(index, grant, limit_cents=grant.max_amount * 100, kind="scope"))
        if three_way:
            texts.append(cedar_policy(index, grant, limit_cents=grant.approve_above * 100, kind="auto"))
    return "".join(texts)


GRANT_POLICY = (
    "permit(principal, action, resource is Grant) when { resource.actor == principal && resource.action == action "
    "&& context.amount <= resource.max_cents && resource.segments.contains(context.segment) "
    "&& resource.channels.contains(context.channel) };"
)
"""The attribute-based alternative: one policy; each grant is an entity carrying its limits."""


def grant_entities(grants: Sequence[GrantSpec]) -> str:
    return json.dumps(
        [
            {
                "uid": {"type": "Grant", "id": f"{grant.actor}/{grant.action}"},
                "attrs": {
                    "actor": {"__entity": {"type": "Actor", "id": grant.actor}},
                    "action": {"__entity": {"type": "Action", "id": grant.action}},
                    "max_cents": grant.max_amount * 100,
                    "segments": list(grant.segments),
                    "channels": list(grant.channels),
                },
                "parents": [],
            }
            for grant in grants
        ]
    )


def customers() -> dict[str, str]:
    """Customer id -> segment: the system of record both engines read."""
    return {f"C-{segment}-{n:03d}": segment for segment in SEGMENTS for n in range(CUSTOMERS_PER_SEGMENT)}


def cedar_entities(known: dict[str, str]) -> str:
    return json.dumps(
        [
            {"uid": {"type": "Customer", "id": customer}, "attrs": {"segment": segment}, "parents": []}
            for customer, segment in known.items()
        ]
    )


def build_workload(
    *, grants: Sequence[GrantSpec], actions: int, count: int, known: dict[str, str], rng: random.Random
) -> list[Case]:
    by_segment: dict[str, list[str]] = {}
    for customer, segment in known.items():
        by_segment.setdefault(segment, []).append(customer)
    intents = rng.choices(list(INTENTS), weights=list(INTENTS.values()), k=count)
    cases = []
    for n, intent in enumerate(intents):
        grant = rng.choice(grants)
        actor = f"ghost-{n % 97:02d}" if intent == "unknown-actor" else grant.actor
        action = action_name(rng.randrange(actions)) if intent == "unknown-actor" else grant.action
        segment = rng.choice(grant.segments)
        channel = rng.choice(grant.channels)
        if intent == "escalate":
            cents = rng.randint(grant.approve_above * 100 + 1, grant.max_amount * 100)
        elif intent == "over-max":
            cents = rng.randint(grant.max_amount * 100 + 1, grant.max_amount * 300)
        else:
            cents = rng.randint(1, grant.approve_above * 100)
        if intent == "segment":
            segment = rng.choice([s for s in SEGMENTS if s not in grant.segments])
        if intent == "channel":
            channel = rng.choice([c for c in CHANNELS if c not in grant.channels])
        customer = f"C-unknown-{n:05d}" if intent == "unknown-customer" else rng.choice(by_segment[segment])
        request = ActionRequest(
            action_id=f"action-bench-{n:06d}",
            actor=actor,
            action=action,
            customer=customer,
            channel=channel,
            reason="bench",
            params={"order_id": f"O-{n:06d}", "amount": Decimal(cents).scaleb(-2)},
        )
        cedar = {
            "principal": f'Actor::"{actor}"',
            "action": f'Action::"{action}"',
            "resource": f'Customer::"{customer}"',
            "context": json.dumps({"amount": cents, "channel": channel}),
        }
        by_grant = {
            **cedar,
            "resource": f'Grant::"{actor}/{action}"',
            "context": json.dumps({"amount": cents, "channel": channel, "segment": known.get(customer, "")}),
        }
        cases.append(
            Case(
                intent=intent,
                request=request,
                facts=Facts(segment=known.get(customer)),
                cedar=cedar,
                cedar_by_grant=by_grant,
            )
        )
    return cases


def time_cxgov(charter: Charter, cases: Sequence[Case]) -> tuple[Timing, list[Decision]]:
    decisions: list[Decision] = []
    latencies: list[int] = []
    clock = time.perf_counter_ns
    for case in cases:
        start = clock()
        decision = decide(charter, case.request, case.facts, today=TODAY)
        latencies.append(clock() - start)
        decisions.append(decision)
    return Timing("cxgov decide", latencies), decisions


def time_cedar(
    name: str, policies: cedarpy.PolicySet, entities: cedarpy.Entities, cases: Sequence[Case], *, by_grant: bool = False
) -> tuple[Timing, list[cedarpy.AuthzResult]]:
    results: list[cedarpy.AuthzResult] = []
    latencies: list[int] = []
    clock = time.perf_counter_ns
    for case in cases:
        request = case.cedar_by_grant if by_grant else case.cedar
        start = clock()
        result = cedarpy.is_authorized(request, policies, entities)
        latencies.append(clock() - start)
        results.append(result)
    return Timing(name, latencies), results


def three_way(result: cedarpy.AuthzResult) -> Outcome:
    if not result.allowed:
        return Outcome.DENY
    kinds = result.diagnostics.id_annotations_by_reason.values()
    return Outcome.ALLOW if any(kind.endswith("-auto") for kind in kinds) else Outcome.ESCALATE


def agreement(pairs: Sequence[tuple[Outcome, Outcome]]) -> str:
    same = sum(1 for ours, theirs in pairs if ours == theirs)
    return f"{same}/{len(pairs)} ({100 * same / len(pairs):.1f}%)"


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = step()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--actors", type=int, default=200)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--cedar-requests", type=int, default=2_000, help="the first N requests also go to Cedar")
    parser.add_argument(
        "--cedar-extra-requests", type=int, default=500, help="requests for the batch and three-way Cedar runs"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    grants = generate_grants(actors=args.actors, actions=args.actions, rng=rng)
    source = charter_source(actors=args.actors, actions=args.actions, grants=grants)
    charter, built = timed(lambda: Charter.model_validate(source))
    with tempfile.TemporaryDirectory(prefix="cxgov-bench-") as tmp:
        path = Path(tmp) / "charter.yaml"
        YAML().dump(source, path)
        loaded, load_seconds = timed(lambda: load_charter(path))
        size = path.stat().st_size
    if loaded != charter:
        raise SystemExit("the YAML charter and the charter built in code differ; the benchmark would be unfair")
    print(
        f"charter: {args.actors} actors x {args.actions} actions, {len(charter.grants)} grants; "
        f"built from data in {built:.2f} s; load_charter of the same YAML ({size / 1e6:.1f} MB) in {load_seconds:.2f} s"
    )

    known = customers()
    cases = build_workload(grants=grants, actions=args.actions, count=args.requests, known=known, rng=rng)
    intents = Counter(case.intent for case in cases)
    print("workload: " + ", ".join(f"{intent} {intents[intent]}" for intent in INTENTS) + f" ({len(cases)} requests)")

    time_cxgov(charter, cases[:1000])  # warm-up: the grant index, pydantic's validators, CPU caches
    cxgov_timing, decisions = time_cxgov(charter, cases)
    outcomes = Counter(decision.outcome.value for decision in decisions)
    rules = Counter(decision.rule for decision in decisions)
    gaps = sum(1 for decision in decisions if decision.gap)
    print(
        "cxgov outcomes: "
        + ", ".join(f"{outcome} {outcomes[outcome.value]}" for outcome in Outcome)
        + f" (gap {gaps}); rules: "
        + ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items()))
    )
    print(cxgov_timing.line())

    sample = cases[: args.cedar_requests]
    extra = cases[: args.cedar_extra_requests]
    entities, entities_seconds = timed(lambda: cedarpy.Entities.from_json_str(cedar_entities(known)))
    scope, scope_parse = timed(lambda: cedarpy.PolicySet.from_str(cedar_policies(grants, three_way=False)))
    print(
        f"cedar setup: {len(grants)} permit policies parsed once in {scope_parse:.2f} s; "
        f"{len(known)} customer entities in {entities_seconds * 1000:.1f} ms"
    )
    time_cedar("warm-up", scope, entities, sample[:100])
    cedar_timing, results = time_cedar("cedarpy is_authorized (policy per grant)", scope, entities, sample)
    print(cedar_timing.line())
    scope_pairs = [
        (
            Outcome.DENY if decision.outcome == Outcome.DENY else Outcome.ALLOW,
            Outcome.ALLOW if r.allowed else Outcome.DENY,
        )
        for decision, r in zip(decisions, results, strict=False)
    ]
    print(f"agreement, cedar allow/deny vs cxgov (allow or escalate)/deny: {agreement(scope_pairs)}")

    batch_start = time.perf_counter()
    cedarpy.is_authorized_batch([case.cedar for case in extra], scope, entities)
    batch_seconds = time.perf_counter() - batch_start
    print(
        f"cedarpy is_authorized_batch (policy per grant, one call for {len(extra)}): "
        f"{len(extra) / batch_seconds:,.0f} decisions/s, mean {batch_seconds / len(extra) * 1e6:.1f} us"
    )

    both, both_parse = timed(lambda: cedarpy.PolicySet.from_str(cedar_policies(grants, three_way=True)))
    three_timing, three_results = time_cedar(
        f"cedarpy is_authorized (three-way, {2 * len(grants)} policies parsed in {both_parse:.2f} s)",
        both,
        entities,
        extra,
    )
    print(three_timing.line())
    three_pairs = [(d.outcome, three_way(r)) for d, r in zip(decisions, three_results, strict=False)]
    print(f"agreement, cedar allow/escalate/deny vs cxgov: {agreement(three_pairs)}")

    single = cedarpy.PolicySet.from_str(GRANT_POLICY)
    grant_set, grants_seconds = timed(lambda: cedarpy.Entities.from_json_str(grant_entities(grants)))
    time_cedar("warm-up", single, grant_set, sample[:100], by_grant=True)
    attribute_timing, attribute_results = time_cedar(
        f"for scale, cedarpy attribute-based (1 policy, {len(grants)} grant entities parsed in {grants_seconds:.2f} s)",
        single,
        grant_set,
        sample,
        by_grant=True,
    )
    print(attribute_timing.line())
    attribute_pairs = [
        (Outcome.DENY if d.outcome == Outcome.DENY else Outcome.ALLOW, Outcome.ALLOW if r.allowed else Outcome.DENY)
        for d, r in zip(decisions, attribute_results, strict=False)
    ]
    print(f"agreement, attribute-based cedar allow/deny vs cxgov: {agreement(attribute_pairs)}")

    ratio = cedar_timing.per_decision_seconds / cxgov_timing.per_decision_seconds
    print(
        f"cxgov: {1 / cxgov_timing.per_decision_seconds:,.0f} decisions/s, p99 {cxgov_timing.percentile_us(0.99):.1f} us; "
        f"cedarpy: {1 / cedar_timing.per_decision_seconds:,.0f} decisions/s, p99 {cedar_timing.percentile_us(0.99):.1f} us"
    )
    print(f"decision_speed_vs_cedar: {ratio:.1f}")


if __name__ == "__main__":
    main()
