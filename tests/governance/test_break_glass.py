"""Break-glass through the real CLI and HTTP API, a real worker and the dev Temporal server: a person in the
override roles lets one denied request proceed (rule 0-override), on the record and flagged in gaps until
someone else reviews it; gaps, frozen scopes, excluded SKUs, a person's ladder denial and amounts above the
overriding person's own limit are refused with nothing started; a forged override reaching Temporal directly
counts for nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from governance.interventions_kit import ROLES, Served, closed, refund, served
from temporalio.service import RPCError

from cxgov.wire import OverrideGrant

__all__ = ["served"]


async def denied(served: Served, body: dict[str, Any], *, as_: str = "support-bot") -> str:
    async with served.api.client(as_) as client:
        answer = await client.post("/v1/actions", json=body)
    assert answer.json()["status"] == "denied", answer.text
    return str(answer.json()["action_id"])


async def override(served: Served, action_id: str, person: str) -> tuple[int, dict[str, Any]]:
    async with served.api.client(person) as client:
        answer = await client.post(f"/v1/actions/{action_id}/override", json={"reason": "customer is stranded"})
    found: dict[str, Any] = answer.json()
    return answer.status_code, found


async def never_started(served: Served, action_id: str) -> None:
    with pytest.raises(RPCError):
        await served.stack.temporal.get_workflow_handle(f"{action_id}-override").describe()


async def test_an_override_lets_one_denied_request_through_and_stays_flagged_until_reviewed(served: Served) -> None:
    action_id = await denied(served, refund("10", sku="TEE-RED-M", channel="phone"))
    before = served.stack.sandbox.world_snapshot()

    done = await asyncio.to_thread(
        served.cli, "override", action_id, "--as", "farid", "--reason", "phone line is all they have", person="farid"
    )
    action = done["action"]
    assert (action["action_id"], action["status"]) == (f"{action_id}-override", "completed")
    assert action["decision"]["rule"] == "0-override"
    assert action["decision"]["reasons"][0] == "break-glass by farid: phone line is all they have"
    assert action["decision"]["reasons"][1].startswith("overrode 4-channel: channel 'phone' is outside the grant")
    assert (done["override"]["person"], done["override"]["rule"]) == ("farid", "4-channel")
    assert served.stack.sandbox.world_snapshot() != before, "the refund was made"

    async with served.api.client("ana") as ana:
        flagged = (await ana.get("/v1/gaps")).json()["unreviewed_overrides"]
    assert [(o["action_id"], o["person"]) for o in flagged] == [(action_id, "farid")]
    again, answer = await override(served, action_id, "ana")
    assert again == 422 and answer["error"].startswith(f"already overridden: farid overrode 4-channel on {action_id}")

    own = await asyncio.to_thread(
        served.cli, "overrides", "review", action_id, "--as", "farid", "--reason", "fine", person="farid", code=3
    )
    assert own["error"] == "farid made this override; someone else reviews it"
    reviewed = await asyncio.to_thread(
        served.cli, "overrides", "review", action_id, "--as", "carla", "--reason", "justified", person="carla"
    )
    assert (reviewed["reviewed_by"], reviewed["review_reason"]) == ("carla", "justified")
    async with served.api.client("ana") as ana:
        assert (await ana.get("/v1/gaps")).json()["unreviewed_overrides"] == []
    listed = await asyncio.to_thread(served.cli, "overrides", "list", person="ana")
    assert [(o["action_id"], o["reviewed_by"]) for o in listed["overrides"]] == [(action_id, "carla")]
    records = served.records("override", "override_reviewed")
    assert [(r.kind, r.actor, r.action_id, r.rule) for r in records] == [
        ("override", "farid", action_id, "4-channel"),
        ("override_reviewed", "carla", action_id, "4-channel"),
    ]


async def test_what_is_never_overridden_starts_nothing(served: Served) -> None:
    excluded = await denied(served, refund("12", sku="FINAL-SOCKS-3P"))
    status, answer = await override(served, excluded, "farid")
    assert (status, answer["exit_code"]) == (403, 3)
    assert answer["error"] == (
        "override refused: denied by 4-excluded-sku, which is never overridden: the SKU is excluded: nobody takes "
        "this action on it, at any amount"
    )
    await never_started(served, excluded)

    gap = await denied(
        served,
        {
            "action": "share_customer_data",
            "customer": "C-100",
            "channel": "chat",
            "reason": "partner asked",
            "params": {"recipient": "insights-partner-inc", "fields": ["name"]},
        },
    )
    status, answer = await override(served, gap, "farid")
    assert status == 403 and "denied by 1-no-grant, which is never overridden" in answer["error"]

    outside = await denied(served, refund("120", channel="phone"))
    status, answer = await override(served, outside, "ben")
    assert status == 403 and answer["error"].endswith(
        "amount 120 is above ben's approve_limit 100: the overriding person's own limit applies"
    )
    status, answer = await override(served, outside, "carla")
    assert (
        status == 403
        and "carla is not in the override roles of charter v4 (finance-ops, support-lead)" in (answer["error"])
    )
    async with served.api.client("support-bot") as bot:
        actor = await bot.post(f"/v1/actions/{outside}/override", json={"reason": "let me"})
    assert actor.status_code == 403 and "is for people" in actor.json()["error"]
    async with served.api.client("carla") as carla:
        await carla.post("/v1/freezes", json={"actor": "support-bot", "reason": "stop"})
    status, answer = await override(served, outside, "farid")
    assert (
        status == 403 and "its scope is frozen: unfreeze first (actor support-bot frozen by carla" in (answer["error"])
    )
    for action_id in (gap, outside):
        await never_started(served, action_id)
    assert served.records("override") == []


async def test_a_persons_denial_and_a_completed_action_are_not_overridden(served: Served) -> None:
    async with served.api.client("support-bot") as bot:
        waiting = (await bot.post("/v1/actions", json=refund("120"))).json()
        completed = (await bot.post("/v1/actions", json=refund("10", sku="TEE-RED-M"))).json()
    async with served.api.client("ana") as ana:
        await ana.post(f"/v1/actions/{waiting['action_id']}/deny", json={"reason": "worn"})
    await closed(served.stack, waiting["action_id"])
    status, answer = await override(served, waiting["action_id"], "farid")
    assert status == 403 and answer["error"].endswith(
        "ana denied it on the ladder: a person's denial is not overridden"
    )
    status, answer = await override(served, completed["action_id"], "farid")
    assert status == 403 and "is completed: only a denied action can be overridden" in answer["error"]


async def test_a_forged_override_reaching_temporal_directly_counts_for_nothing(served: Served) -> None:
    stack = served.stack
    request = stack.client.request(
        actor="support-bot",
        action="refund",
        customer="C-100",
        channel="phone",
        reason="arrived torn",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "10"},
    )
    forged = request.model_copy(
        update={"override": OverrideGrant(of_action="action-made-up", person="farid", reason="trust me")}
    )
    state = await stack.client.act(forged, wait=20)
    assert state.status.value == "denied" and state.decision is not None
    assert state.decision.rule == "0-unauthenticated"
    assert state.decision.reasons[0].startswith("override refused: it carries no signature of a trusted cxgov server")


def test_nobody_overrides_a_denial_of_their_own_request(tmp_path: Path) -> None:
    from harness import write_charter

    from cxgov.charter import load_charter
    from cxgov.overrides import grant_refusal
    from cxgov.wire import ActionRequest, Decision, Outcome

    charter = load_charter(write_charter(tmp_path, ROLES))
    request = ActionRequest(
        action_id="action-1",
        actor="ana",
        action="refund",
        customer="C-100",
        channel="phone",
        reason="asked",
        params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "10"},
    )
    decision = Decision(outcome=Outcome.DENY, rule="1-no-grant", reasons=["no grant"], gap=True)
    assert grant_refusal(charter, request, decision, person="ana") == (
        "ana requested this action; no one overrides a denial of their own request"
    )
    channel = decision.model_copy(update={"rule": "4-channel", "gap": False})
    assert grant_refusal(charter, request, channel, person="farid") is None
    assert grant_refusal(charter, request, channel, person="farid", blocked=True) == (
        "a precondition is false in the system of record, which would refuse the effect anyway"
    )


def test_charter_diff_names_the_freeze_and_override_roles(tmp_path: Path) -> None:
    from harness import CHARTER, write_charter

    from cxgov.charter import load_charter
    from cxgov.charter.diff import describe_changes, diff_charters

    changed = load_charter(write_charter(tmp_path, ROLES))
    lines = describe_changes(diff_charters(load_charter(CHARTER), changed))
    assert "  charter: freeze_roles [] -> [duty-manager]" in lines
    assert "  charter: override_roles [] -> [finance-ops, support-lead]" in lines
