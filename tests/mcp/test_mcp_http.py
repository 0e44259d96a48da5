"""`/mcp` on the HTTP server, through the SDK's own client over streamable HTTP, in front of a real worker.

Each agent sees only its own tools, with its limits; every call goes through the API with the agent's own key
and answers with the action JSON and one sentence; the SDK's auth layer refuses a missing or wrong key (401)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

import httpx
import httpx2
import pytest
from api.apikit import Api
from harness import Stack
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcpkit import ASKED, REFUND_40, REFUND_120, bearer, by_name, mcp_errors, over_http, structured, text

ACTION_ID = r"action-[0-9a-f-]{36}"
BOOK_NORTH_9 = {"clinic": "north", "slot": "2026-12-01T09:00"}


async def test_each_caller_sees_one_tool_per_granted_action_with_its_limits(api: Api) -> None:
    async with over_http(api, api.token("support-bot")) as bot:
        tools = by_name((await bot.list_tools()).tools)
    assert list(tools) == [
        "refund",
        "change_address",
        "cancel_order",
        "book_appointment",
        "get_action",
        "wait_for_action",
    ]
    refund = tools["refund"]
    assert refund.description is not None
    for limit in (
        "amount at most 200 USD",
        "above 50 USD it waits for a person's approval",
        "channels chat, email",
        "only customers in segments standard, gold",
        "never for SKUs matching FINAL-*, GIFT-*",
        "budget 300 requests and 5000 USD per 1d",
        "Who approves: support-lead (ana up to 1000 USD, ben up to 300 USD), then after 4h without an answer "
        "duty-manager (carla up to 5000 USD)",
        "Can be undone by finance-ops until payout.",
    ):
        assert limit in refund.description, limit
    schema = refund.input_schema
    assert schema["required"] == ["customer", "channel", "reason", "order_id", "sku", "amount"]
    assert schema["properties"]["amount"]["type"] == ["number", "string"]
    assert "decimal" in schema["properties"]["amount"]["description"]
    assert schema["properties"]["channel"]["enum"] == ["chat", "email"]
    assert "action_id" in schema["properties"] and schema["additionalProperties"] is False
    assert refund.annotations is not None and refund.annotations.destructive_hint is False
    assert tools["get_action"].annotations is not None and tools["get_action"].annotations.read_only_hint is True

    async with over_http(api, api.token("insights-partner")) as partner:
        [share, *built_in] = (await partner.list_tools()).tools
    assert (share.name, [tool.name for tool in built_in]) == ("share_customer_data", ["get_action", "wait_for_action"])
    assert share.annotations is not None and share.annotations.destructive_hint is True, "irreversible"
    assert share.input_schema["properties"]["fields"]["type"] == "array"
    assert share.description is not None and "Irreversible" in share.description
    assert "every request of yours is denied: insights-partner was due for recertification on 2026-06-01" in (
        share.description
    )

    async with over_http(api, api.token("omar")) as omar:
        tools = by_name((await omar.list_tools()).tools)
    assert list(tools) == ["refund", "cancel_order", "get_action", "wait_for_action"], "tier1's grants"
    assert tools["refund"].description is not None and "amount at most 1000 USD" in tools["refund"].description
    assert "enum" not in tools["refund"].input_schema["properties"]["channel"], "tier1 may use any channel"

    async with over_http(api, api.token("dana")) as dana:
        assert [tool.name for tool in (await dana.list_tools()).tools] == ["get_action", "wait_for_action"]


async def test_an_allowed_action_is_done_and_carries_the_apis_json(api: Api, stack: Stack) -> None:
    action_id = f"action-{uuid.uuid4()}"
    async with over_http(api, api.token("support-bot")) as bot:
        done = await bot.call_tool("refund", {**ASKED, **REFUND_40, "action_id": action_id})
        again = await bot.call_tool("refund", {**ASKED, **REFUND_40, "action_id": action_id})
    assert not done.is_error
    assert text(done) == f"Done: refund of 40 USD for C-100 completed (action {action_id})."
    async with api.client("support-bot") as http:
        same = await http.post(
            "/v1/actions", json={**ASKED, "action": "refund", "params": REFUND_40, "action_id": action_id}
        )
    assert structured(done) == same.json(), "the structured content is the API's own answer"
    assert (structured(done)["status"], structured(done)["decision"]["rule"]) == ("completed", "6-allow")
    assert text(again) == text(done), "a retry with the same action id joins the first"
    assert stack.sandbox.world_snapshot()["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] == "40", "once"


async def test_an_escalated_action_names_who_decides_and_wait_for_action_returns_once_approved(api: Api) -> None:
    async with over_http(api, api.token("support-bot")) as bot:
        waiting = await bot.call_tool("refund", {**ASKED, **REFUND_120})
        assert not waiting.is_error
        action_id = structured(waiting)["action_id"]
        assert re.fullmatch(
            r"Waiting on approval from role support-lead \(ana, ben\) until \d{4}-\d\d-\d\d \d\d:\d\d UTC for refund "
            r"of 120 USD for C-100 \(rule 5-approve-above: [^)]*\); check back with "
            rf'wait_for_action\(action_id="{action_id}"\)\.',
            text(waiting),
        ), text(waiting)
        pending = structured(waiting)["pending"]
        assert (pending["role"], pending["eligible"]) == ("support-lead", ["ana", "ben"])
        deadline = datetime.fromisoformat(pending["deadline"])
        assert 3.9 * 3600 < (deadline - datetime.now(UTC)).total_seconds() <= 4 * 3600, "the 4h step timeout"

        still = await bot.call_tool("wait_for_action", {"action_id": action_id, "seconds": 0.5})
        assert not still.is_error and text(still).startswith("Waiting on approval from role support-lead (ana, ben)")

        waited = asyncio.create_task(bot.call_tool("wait_for_action", {"action_id": action_id, "seconds": 60}))
        await asyncio.sleep(1.0)
        assert not waited.done(), "it waits while the action awaits approval"
        async with api.client("ben") as ben:
            approved = await ben.post(f"/v1/actions/{action_id}/approve", json={"reason": "photo checked", "wait": 0})
        assert approved.status_code == 200, approved.text
        done = await asyncio.wait_for(waited, 30)
    assert not done.is_error
    assert text(done) == f"Done: refund of 120 USD for C-100 completed, approved by ben (action {action_id})."
    assert structured(done)["status"] == "completed" and structured(done)["request"]["actor"] == "support-bot"


async def test_a_denied_action_is_an_error_result_with_the_rule_and_reasons(api: Api) -> None:
    async with over_http(api, api.token("support-bot")) as bot:
        final = await bot.call_tool("refund", {**ASKED, "order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": 12})
        over = await bot.call_tool("refund", {**ASKED, "order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "250"})
    assert final.is_error and structured(final)["status"] == "denied"
    assert text(final).startswith("Denied by rule 4-excluded-sku: ")
    assert "FINAL-*" in text(final) and text(final).endswith(
        "Refund of 12 USD for C-100 did not happen; do not retry it unchanged."
    )
    assert over.is_error and text(over).startswith("Denied by rule 4-max-amount: ")
    assert structured(over)["decision"]["reasons"][0] in text(over)


async def test_bad_input_is_an_error_result_naming_the_problem_and_starts_nothing(api: Api, stack: Stack) -> None:
    action_id = f"action-{uuid.uuid4()}"
    async with over_http(api, api.token("support-bot")) as bot:
        negative = await bot.call_tool("refund", {**ASKED, **REFUND_40, "amount": "-5", "action_id": action_id})
        extra = await bot.call_tool("refund", {**ASKED, **REFUND_40, "approved_by": "ana"})
        missing = await bot.call_tool("refund", {"customer": "C-100", "channel": "chat", **REFUND_40})
        no_param = await bot.call_tool("refund", {**ASKED, "order_id": "O-1001", "sku": "TEE-RED-M"})
        not_granted = await bot.call_tool("share_customer_data", {**ASKED, "recipient": "x", "fields": ["name"]})
        too_long = await bot.call_tool("wait_for_action", {"action_id": action_id, "seconds": 1000})
        malformed = await bot.call_tool("get_action", {"action_id": "refund-1"})
        numeric_id = await bot.call_tool("refund", {**ASKED, **REFUND_40, "action_id": 7})
    assert negative.is_error and text(negative) == (
        "Bad input, nothing was started: param 'amount' must not be negative, got -5. Fix the arguments and call again."
    )
    assert structured(negative) == {"error": "param 'amount' must not be negative, got -5", "exit_code": 2}
    assert extra.is_error and "refund takes no argument 'approved_by'" in text(extra)
    assert missing.is_error and "refund needs 'reason'" in text(missing)
    assert no_param.is_error and "refund needs param 'amount' (money)" in text(no_param)
    assert not_granted.is_error and "there is no tool 'share_customer_data' for support-bot" in text(not_granted)
    assert too_long.is_error and "'seconds' must be between 0 and 300" in text(too_long)
    assert malformed.is_error and "must start with 'action-'" in text(malformed)
    assert numeric_id.is_error and "'action_id' must be text like action-..., got 7" in text(numeric_id)
    async with api.client("support-bot") as http:
        assert (await http.get(f"/v1/actions/{action_id}")).status_code == 404, "no workflow started"
    assert stack.sandbox.world_snapshot()["refunds"] == {}


async def test_an_agent_sees_only_its_own_actions(api: Api) -> None:
    async with over_http(api, api.token("support-bot")) as bot:
        action_id = structured(await bot.call_tool("refund", {**ASKED, **REFUND_40}))["action_id"]
        mine = await bot.call_tool("get_action", {"action_id": action_id})
    assert not mine.is_error and text(mine) == f"Done: refund of 40 USD for C-100 completed (action {action_id})."
    async with over_http(api, api.token("returns-sync")) as other:
        hidden = await other.call_tool("get_action", {"action_id": action_id})
    assert hidden.is_error and text(hidden) == (
        f"Not found: no action {action_id} (an agent sees only its own actions)."
    )
    async with over_http(api, api.token("ana")) as ana:
        seen = await ana.call_tool("get_action", {"action_id": action_id})
    assert not seen.is_error and structured(seen)["request"]["actor"] == "support-bot", "people see every action"


async def test_a_rolled_back_action_is_an_error_result_that_says_nothing_changed(api: Api, stack: Stack) -> None:
    before = stack.sandbox.world_snapshot()
    stack.sandbox.add_fault(action="book_appointment", step="verify")
    async with over_http(api, api.token("support-bot")) as bot:
        undone = await bot.call_tool("book_appointment", {**ASKED, **BOOK_NORTH_9})
    assert undone.is_error and structured(undone)["status"] == "compensated"
    assert re.fullmatch(
        r"Failed and rolled back: book_appointment for C-100 went wrong after it started \(.*verify failed.*\) and "
        rf"its effect was undone; nothing changed for the customer \(action {ACTION_ID}\)\.",
        text(undone),
    ), text(undone)
    assert stack.sandbox.world_snapshot() == before


async def test_a_missing_or_wrong_key_is_401_from_the_sdk_auth_layer(api: Api) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=api.url) as http:
        missing = await http.post("/mcp", json=initialize)
        wrong = await http.post("/mcp", json=initialize, headers=bearer("cxgov_k0000000000000000_" + "x" * 43))
        huge = await http.post("/mcp", content=b"x" * 70_000, headers=bearer(api.token("support-bot")))
    for answer in (missing, wrong):
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert huge.status_code == 413, "the API's body limit covers /mcp too"

    for token in (None, "not-a-key", api.token("support-bot") + "x"):
        seen: list[int] = []
        with pytest.raises(Exception) as refused:  # the SDK raises it inside its task groups
            async with over_http(api, token, statuses=seen) as client:
                await client.list_tools()
        assert seen and set(seen) == {401}, (token, seen)
        assert mcp_errors(refused.value), refused.value


async def test_a_key_revoked_mid_session_is_refused_from_the_next_request_on(api: Api) -> None:
    token = api.token("support-bot")
    seen: list[int] = []
    async with over_http(api, token, statuses=seen) as bot:
        assert len((await bot.list_tools()).tools) == 6
        api.keys.revoke(key_id=token.split("_")[1], now=datetime.now(UTC))
        with pytest.raises(Exception) as refused:  # the SDK raises it inside its task groups
            await bot.call_tool("refund", {**ASKED, **REFUND_40})
    assert mcp_errors(refused.value), refused.value
    assert seen[-1] == 401 and set(seen[:-1]) == {200}, seen


async def test_an_older_protocol_client_and_a_person_signed_in_with_oidc(api: Api) -> None:
    from identity.oidckit import AUDIENCE, Issuer

    from cxgov.identity.oidc import OidcSettings, OidcVerifier

    issuer = Issuer()
    try:
        api.gate.oidc = OidcVerifier(OidcSettings(issuer=issuer.url, audience=AUDIENCE))
        token = issuer.token(preferred_username="omar")
        async with (
            httpx2.AsyncClient(headers=bearer(token)) as http,
            Client(streamable_http_client(f"{api.url}/mcp", http_client=http), mode="legacy") as omar,
        ):
            assert omar.protocol_version is not None and omar.protocol_version < "2026"
            tools = [tool.name for tool in (await omar.list_tools()).tools]
            done = await omar.call_tool("refund", {**ASKED, **REFUND_40, "channel": "phone"})
        assert tools == ["refund", "cancel_order", "get_action", "wait_for_action"]
        assert not done.is_error and text(done).startswith("Done: refund of 40 USD for C-100 completed")
        async with api.client("ana") as ana:
            status = (await ana.get(f"/v1/actions/{structured(done)['action_id']}")).json()
        assert status["request"]["actor"] == "omar", "the principal is the one the OIDC token names"
    finally:
        issuer.stop()
