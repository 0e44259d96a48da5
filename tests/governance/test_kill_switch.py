"""The kill switch through the real CLI and HTTP API, a real worker and the dev Temporal server: a freeze denies
the very next decision (0-frozen), ends the approvals waiting in its scope, catches an approval that raced it,
is only for the charter's freeze roles, is audited both ways, shows in questions and gaps, and is told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from governance.interventions_kit import ROLES, Served, closed, refund, serve, served
from temporalio.testing import WorkflowEnvironment

from cxgov.killswitch import FreezeBook, Scope
from cxgov.sandbox import Sandbox

__all__ = ["served"]


async def act(served: Served, body: dict[str, object], *, as_: str = "support-bot") -> dict[str, object]:
    async with served.api.client(as_) as client:
        answer = await client.post("/v1/actions", json=body)
    assert answer.status_code in (200, 202), answer.text
    found: dict[str, object] = answer.json()
    return found


async def test_a_freeze_denies_the_next_decision_until_it_is_lifted(served: Served) -> None:
    before = await act(served, refund("10", sku="TEE-RED-M"))
    assert before["status"] == "completed"

    frozen = await asyncio.to_thread(
        served.cli,
        "freeze",
        "--actor",
        "support-bot",
        "--as",
        "carla",
        "--reason",
        "refunding in a loop",
        person="carla",
    )
    assert frozen["freeze"]["scope"] == {"kind": "actor", "name": "support-bot"}
    assert (frozen["freeze"]["frozen_by"], frozen["ended"]) == ("carla", [])

    denied = await act(served, refund("10", sku="TEE-RED-M"))
    assert denied["status"] == "denied"
    decision = denied["decision"]
    assert isinstance(decision, dict) and decision["rule"] == "0-frozen"
    assert decision["reasons"][0].startswith("actor support-bot frozen by carla at ")
    assert decision["reasons"][0].endswith(": refunding in a loop")

    async with served.api.client("ana") as ana:
        questions = (await ana.get("/v1/questions", params={"actor": "support-bot"})).json()
        gaps = (await ana.get("/v1/gaps")).json()
    assert questions["actors"][0]["denied"].startswith("actor support-bot frozen by carla")
    assert all(a["scope"]["denied"] for a in questions["actors"][0]["actions"])
    assert [f["scope"] for f in gaps["frozen"]] == [{"kind": "actor", "name": "support-bot"}]

    listed = await asyncio.to_thread(served.cli, "freezes", person="ana")
    assert [f["frozen_by"] for f in listed["freezes"]] == ["carla"]
    lifted = await asyncio.to_thread(
        served.cli, "unfreeze", "--actor", "support-bot", "--as", "carla", "--reason", "loop fixed", person="carla"
    )
    assert (lifted["freeze"]["lifted_by"], lifted["freeze"]["lift_reason"]) == ("carla", "loop fixed")
    after = await act(served, refund("10", sku="TEE-RED-M"))
    assert after["status"] == "completed"

    records = served.records("frozen", "unfrozen")
    assert [(r.kind, r.actor, r.reason) for r in records] == [
        ("frozen", "carla", "refunding in a loop"),
        ("unfrozen", "carla", "loop fixed"),
    ]
    history = await asyncio.to_thread(served.cli, "freezes", "--history", person="ana")
    assert [f["lifted_by"] for f in history["freezes"]] == ["carla"]
    notice = served.stack.temporal.get_workflow_handle(f"notice-freeze-{frozen['freeze']['id']}:frozen:0")
    assert (await notice.describe()).status is not None, "the freeze was told (its notice workflow started)"


async def test_a_freeze_ends_the_approvals_waiting_in_its_scope(served: Served) -> None:
    waiting = await act(served, refund("120"))
    assert waiting["status"] == "awaiting_approval"
    action_id = str(waiting["action_id"])

    async with served.api.client("carla") as carla:
        answer = await carla.post("/v1/freezes", json={"action": "refund", "reason": "refund fraud suspected"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["ended"] == [action_id]

    state = await closed(served.stack, action_id)
    assert state.status.value == "denied" and state.decision is not None
    assert state.decision.rule == "0-frozen"
    assert state.decision.reasons == [
        "action refund frozen by carla while this waited for approval: refund fraud suspected"
    ]
    async with served.api.client("ana") as ana:
        late = await ana.post(f"/v1/actions/{action_id}/approve", json={"reason": "looks fine"})
    assert late.status_code == 403 and "denied" in late.json()["error"]


async def test_an_approval_that_raced_the_freeze_is_caught_before_execute(served: Served) -> None:
    waiting = await act(served, refund("120"))
    action_id = str(waiting["action_id"])
    before = served.stack.sandbox.world_snapshot()
    # The freeze is recorded but never reaches the waiting action (as when visibility lags behind the start).
    book = FreezeBook(served.audit_url)
    try:
        book.freeze(Scope(kind="all"), person="carla", via="test", reason="all stop", now=datetime.now(UTC))
    finally:
        book.close()

    async with served.api.client("ana") as ana:
        approved = await ana.post(f"/v1/actions/{action_id}/approve", json={"reason": "photos fine", "wait": 20})
    assert approved.status_code == 200, approved.text

    state = await closed(served.stack, action_id)
    assert state.status.value == "denied" and state.decision is not None
    assert state.decision.rule == "0-frozen"
    assert state.decision.reasons[0].startswith("every actor and action frozen by carla")
    assert not any(step.step == "execute" for step in state.steps), "nothing was executed"
    assert served.stack.sandbox.world_snapshot() == before


async def test_only_the_freeze_roles_freeze_and_bad_scopes_change_nothing(served: Served) -> None:
    async with served.api.client("ana") as ana:
        refused = await ana.post("/v1/freezes", json={"all": True, "reason": "stop"})
    assert (refused.status_code, refused.json()["error"]) == (
        403,
        "ana is not in the freeze roles (duty-manager: carla)",
    )
    async with served.api.client("support-bot") as bot:
        actor = await bot.post("/v1/freezes", json={"all": True, "reason": "stop"})
    assert actor.status_code == 403 and "is for people" in actor.json()["error"]

    both = await asyncio.to_thread(
        served.cli,
        "freeze",
        "--actor",
        "support-bot",
        "--all",
        "--as",
        "carla",
        "--reason",
        "x",
        person="carla",
        code=2,
    )
    assert "name exactly one scope" in both["error"]
    unknown = await asyncio.to_thread(
        served.cli, "freeze", "--action", "teleport", "--as", "carla", "--reason", "x", person="carla", code=2
    )
    assert "'teleport' is not an action of charter v4" in unknown["error"]
    not_frozen = await asyncio.to_thread(
        served.cli, "unfreeze", "--all", "--as", "carla", "--reason", "x", person="carla", code=2
    )
    assert "every actor and action is not frozen" in not_frozen["error"]
    async with served.api.client("carla") as carla:
        first = await carla.post("/v1/freezes", json={"all": True, "reason": "first"})
        second = await carla.post("/v1/freezes", json={"all": True, "reason": "second"})
    assert first.status_code == 200
    assert second.status_code == 422 and second.json()["error"].startswith("already frozen: every actor and action")
    assert [r.reason for r in served.records("frozen")] == ["first"]


async def test_a_charter_without_freeze_roles_lets_nobody_freeze(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path
) -> None:
    async for plain in serve(dev_env, sandbox, tmp_path, ("ben:   {roles", "ben:   {roles")):
        async with plain.api.client("carla") as carla:
            refused = await carla.post("/v1/freezes", json={"all": True, "reason": "stop"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "charter v4 names no freeze_roles: nobody can freeze or unfreeze"
        assert plain.records("frozen") == []


def test_freeze_and_override_roles_must_be_roles(tmp_path: Path) -> None:
    import pytest
    from harness import write_charter

    from cxgov.errors import CharterError

    with pytest.raises(CharterError, match="'night-shift' is not a role of this charter"):
        write_charter(tmp_path, (ROLES[0], "freeze_roles: [night-shift]\n\n" + ROLES[0]))
