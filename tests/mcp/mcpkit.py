"""What the MCP tests share: the SDK's own client over streamable HTTP (`/mcp` of a served API) and over stdio
(a real `cxgov mcp` process pointed at that API), and readers for what a tool answered."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
from api.apikit import Api
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, Tool

CXGOV = Path(sys.executable).parent / "cxgov"
REFUND_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": 40}
REFUND_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
ASKED = {"customer": "C-100", "channel": "chat", "reason": "arrived torn"}


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


@contextlib.asynccontextmanager
async def over_http(api: Api, token: str | None, *, statuses: list[int] | None = None) -> AsyncIterator[Client]:
    """The SDK's client on `/mcp` of `api`, sending `token` as its bearer credential (None: no credential);
    the HTTP status of every answer it gets is appended to `statuses`."""

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(
            headers=bearer(token), timeout=httpx2.Timeout(30, read=330), event_hooks={"response": [record]}
        ) as http,
        Client(streamable_http_client(f"{api.url}/mcp", http_client=http), read_timeout_seconds=330) as client,
    ):
        yield client


def stdio_server(api: Api, token: str | None, *, cwd: Path, api_url: str | None = None) -> StdioServerParameters:
    """How an MCP client starts `cxgov mcp`: the command, and only CXGOV_TOKEN and CXGOV_API_URL of cxgov's."""
    env = {"CXGOV_API_URL": api_url or api.url}
    if token is not None:
        env["CXGOV_TOKEN"] = token
    return StdioServerParameters(command=str(CXGOV), args=["mcp"], env=env, cwd=cwd)


@contextlib.asynccontextmanager
async def over_stdio(api: Api, token: str, *, cwd: Path) -> AsyncIterator[Client]:
    """The SDK's client on a `cxgov mcp` child process acting with `token`."""
    async with Client(stdio_server(api, token, cwd=cwd), read_timeout_seconds=330) as client:
        yield client


def text(result: CallToolResult) -> str:
    """The one sentence a tool answered with."""
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text


def structured(result: CallToolResult) -> dict[str, Any]:
    found = result.structured_content
    assert isinstance(found, dict), found
    return found


def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {tool.name: tool for tool in tools}


def mcp_errors(err: BaseException) -> list[MCPError]:
    """The MCP errors inside what the SDK's client raised (it nests them in exception groups)."""
    if isinstance(err, MCPError):
        return [err]
    found: list[MCPError] = []
    for inner in getattr(err, "exceptions", ()):
        found.extend(mcp_errors(inner))
    return found
