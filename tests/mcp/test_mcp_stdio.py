"""`cxgov mcp`: a real child process speaking MCP on stdio to the SDK's own client, acting as CXGOV_TOKEN proves,
through the HTTP API at CXGOV_API_URL. It refuses to start without a key (2), with a refused one (3), or without
an API to reach (1); a key revoked while it runs turns every call into an error result saying so."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api.apikit import Api, serving
from cli.clikit import child_env, run_subprocess
from harness import Outcome, Stack
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcpkit import ASKED, REFUND_40, REFUND_120, mcp_errors, over_stdio, stdio_server, structured, text


async def test_an_agent_acts_through_cxgov_mcp_and_waits_for_an_approval(api: Api, tmp_path: Path) -> None:
    async with over_stdio(api, api.token("support-bot"), cwd=tmp_path) as bot:
        tools = [tool.name for tool in (await bot.list_tools()).tools]
        done = await bot.call_tool("refund", {**ASKED, **REFUND_40})
        gift = {"order_id": "O-1002", "sku": "GIFT-CARD-50", "amount": 50}
        denied = await bot.call_tool("refund", {**ASKED, "customer": "C-200", **gift})
        waiting = await bot.call_tool("refund", {**ASKED, **REFUND_120})
        action_id = structured(waiting)["action_id"]
        waited = asyncio.create_task(bot.call_tool("wait_for_action", {"action_id": action_id, "seconds": 60}))
        await asyncio.sleep(1.0)
        assert not waited.done(), "it waits while the action awaits approval"
        async with api.client("ana") as ana:
            approved = await ana.post(f"/v1/actions/{action_id}/approve", json={"reason": "receipt seen", "wait": 0})
        assert approved.status_code == 200, approved.text
        finished = await asyncio.wait_for(waited, 30)
    assert tools == ["refund", "change_address", "cancel_order", "book_appointment", "get_action", "wait_for_action"]
    assert not done.is_error and re.fullmatch(
        r"Done: refund of 40 USD for C-100 completed \(action action-[0-9a-f-]{36}\)\.", text(done)
    )
    assert denied.is_error and text(denied).startswith("Denied by rule 4-excluded-sku: ")
    assert not waiting.is_error and text(waiting).startswith("Waiting on approval from role support-lead (ana, ben) ")
    assert text(finished) == f"Done: refund of 120 USD for C-100 completed, approved by ana (action {action_id})."
    async with api.client("ana") as ana:
        status = (await ana.get(f"/v1/actions/{action_id}")).json()
    assert status["request"]["actor"] == "support-bot", "the principal is the one CXGOV_TOKEN proves"


def start(api: Api, tmp_path: Path, *, token: str | None, api_url: str | None = None) -> Outcome:
    """Run `cxgov mcp` as an MCP client would, with stdin closed: it either refuses at once or serves until EOF."""
    params = stdio_server(api, token, cwd=tmp_path, api_url=api_url)
    assert params.env is not None
    return run_subprocess("mcp", env=child_env(params.env), timeout=30)


async def test_cxgov_mcp_refuses_to_start_without_a_usable_key_or_api(api: Api, tmp_path: Path) -> None:
    missing = await asyncio.to_thread(start, api, tmp_path, token=None)
    assert missing.code == 2, missing
    assert missing.one_error_line().startswith("cxgov: set CXGOV_TOKEN to the agent's key")

    wrong = await asyncio.to_thread(start, api, tmp_path, token="cxgov_k0000000000000000_" + "x" * 43)
    assert wrong.code == 3, wrong
    assert wrong.one_error_line() == (
        f"cxgov: the cxgov API at {api.url} refused the key from CXGOV_TOKEN: the token is not valid: unknown, "
        "expired or revoked"
    )

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = await asyncio.to_thread(start, api, tmp_path, token=api.token("support-bot"), api_url=nobody)
    assert down.code == 1, down
    assert down.one_error_line().startswith(f"cxgov: cannot reach the cxgov API at {nobody} (ConnectError)")

    served = await asyncio.to_thread(start, api, tmp_path, token=api.token("support-bot"))
    assert (served.code, served.out) == (0, ""), "a good key serves until stdin ends, and stdout carries only MCP"
    assert served.err.startswith("cxgov mcp: serving actor support-bot over stdio via ")

    log = tmp_path / "server.log"
    with log.open("w") as errlog, pytest.raises(Exception) as refused:  # raised inside the SDK's task groups
        async with Client(stdio_client(stdio_server(api, "not-a-key", cwd=tmp_path), errlog=errlog)) as client:
            await client.list_tools()
    assert [err.error.message for err in mcp_errors(refused.value)] == ["Connection closed"]
    assert "refused the key from CXGOV_TOKEN" in log.read_text(), "the client's server log says why"


async def test_a_key_revoked_while_serving_makes_every_call_an_error_result(api: Api, tmp_path: Path) -> None:
    token = api.token("support-bot")
    async with over_stdio(api, token, cwd=tmp_path) as bot:
        assert len((await bot.list_tools()).tools) == 6
        api.keys.revoke(key_id=token.split("_")[1], now=datetime.now(UTC))
        refund = await bot.call_tool("refund", {**ASKED, **REFUND_40})
        look = await bot.call_tool("get_action", {"action_id": "action-0"})
        with pytest.raises(MCPError) as listing:
            await bot.list_tools()
    for answer in (refund, look):
        assert answer.is_error
        assert text(answer) == (
            "The cxgov API refused this agent's key: the token is not valid: unknown, expired or revoked. Nothing "
            "was done; the key must be replaced (`cxgov keys issue`)."
        )
    assert "refused the key from CXGOV_TOKEN" in str(listing.value)


async def test_an_api_gone_away_is_an_error_result_naming_the_action_id_to_retry_with(
    stack: Stack, tmp_path: Path
) -> None:
    served = serving(stack, tmp_path)
    api = await served.__aenter__()
    running = True
    try:
        action_id = f"action-{uuid.uuid4()}"
        async with over_stdio(api, api.token("support-bot"), cwd=tmp_path) as bot:
            assert len((await bot.list_tools()).tools) == 6
            await served.__aexit__(None, None, None)
            running = False
            lost = await bot.call_tool("refund", {**ASKED, **REFUND_40, "action_id": action_id})
    finally:
        if running:
            await served.__aexit__(None, None, None)
    assert lost.is_error
    assert text(lost) == (
        f"cxgov is unavailable: cannot reach the cxgov API at {api.url} (ConnectError); start it with `cxgov up` or "
        f'`cxgov serve`, or set CXGOV_API_URL. The outcome is unknown: call refund again with action_id="{action_id}" '
        f'(the same id never acts twice), or ask get_action(action_id="{action_id}").'
    )
