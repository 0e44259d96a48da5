"""The MCP server: each caller sees and calls only its own tools, and every call goes through the HTTP API.

Built on the official SDK's low-level `Server` (the foundation of its `MCPServer`): `MCPServer` keeps one fixed
tool registry per server, while cxgov's tools depend on who calls (one per action the caller holds a grant for,
with that caller's limits in the description). So `tools/list` and `tools/call` are answered per request from
`GET /v1/me` with the caller's own credential, which comes from the transport: the bearer token the SDK's token
verifier accepted (`/mcp`), or CXGOV_TOKEN (`cxgov mcp` over stdio).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams

from cxgov.errors import BadRequest, Unavailable
from cxgov.frontdoor import Credential
from cxgov.mcp.door import ApiDoor, CredentialRefused
from cxgov.mcp.grants import PrincipalGrants
from cxgov.mcp.results import action_result, api_error, result, unavailable_text, what_of
from cxgov.mcp.tools import DEFAULT_WAIT, GET_ACTION, MAX_WAIT, WAIT_FOR_ACTION, action_body, tools_for
from cxgov.policy.params import check_action_id
from cxgov.wire import Status

ACT_WAIT = 30.0
"""Seconds an action tool waits for the action to settle (done, denied, awaiting approval ...) before answering."""
STILL_WAITING = frozenset({Status.AUTHORIZING, Status.EXECUTING, Status.AWAITING_APPROVAL})
"""Statuses wait_for_action waits through."""
POLL_FIRST, POLL_MAX = 0.25, 2.0
INSTRUCTIONS = (
    "cxgov governs the actions you take on behalf of customers. Each action tool is one action of the charter "
    "you hold a grant for; its description says your limits. An action is done, denied (an error result with "
    "the rule and reasons: do not retry it unchanged), or waits for a person's approval: then the answer names "
    "who may decide and until when, with an action id to pass to wait_for_action or get_action. Pass your own "
    "action_id to make a retry safe."
)

CredentialOf = Callable[[ServerRequestContext[Any, Any]], Credential | None]
"""Where a request's credential comes from: the verified bearer token (HTTP) or CXGOV_TOKEN (stdio)."""


class AgentTools:
    """The tools of whoever calls, answered through the API.

    Args:
        door: The HTTP API, reached over the network or in process.
        credential_of: The calling request's credential.
    """

    def __init__(self, door: ApiDoor, credential_of: CredentialOf) -> None:
        self.door = door
        self.credential_of = credential_of

    def server(self) -> Server[Any]:
        """A low-level MCP server answering `tools/list` and `tools/call` with these tools."""
        return Server(
            "cxgov",
            version="1",
            title="cxgov",
            description="Governed customer actions: scope, reversibility, auditability",
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )

    def _credential(self, ctx: ServerRequestContext[Any, Any]) -> Credential:
        credential = self.credential_of(ctx)
        if credential is None:  # the SDK's auth layer lets no such request through; deny by default all the same
            raise MCPError(code=INVALID_REQUEST, message="no credential: send Authorization: Bearer <key>")
        return credential

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        """The caller's tools, from its grants as `GET /v1/me` states them now (never cached across callers)."""
        try:
            grants = await self.door.me(self._credential(ctx))
        except (CredentialRefused, Unavailable) as err:
            raise MCPError(code=INVALID_REQUEST, message=err.message) from None
        return ListToolsResult(tools=tools_for(grants), ttl_ms=0, cache_scope="private")

    async def call_tool(self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> CallToolResult:
        """Run one tool for the caller; every expected problem is an error result with one clear sentence."""
        credential = self._credential(ctx)
        arguments = dict(params.arguments or {})
        try:
            if params.name == GET_ACTION:
                return await self._wait(credential, arguments, tool=GET_ACTION, seconds=0.0)
            if params.name == WAIT_FOR_ACTION:
                return await self._wait(credential, arguments, tool=WAIT_FOR_ACTION, seconds=_seconds(arguments))
            return await self._act(credential, params.name, arguments)
        except CredentialRefused as refused:
            return api_error(refused.answer)
        except BadRequest as bad:
            return result(
                f"Bad input: {bad.message}. Fix the arguments and call again.", {"error": bad.message}, error=True
            )
        except Unavailable as down:
            action_id = arguments.get("action_id") if isinstance(arguments.get("action_id"), str) else None
            text = unavailable_text(down.message, action_id=action_id, tool=params.name)
            return result(text, {"error": down.message}, error=True)

    async def _act(self, credential: Credential, name: str, arguments: dict[str, Any]) -> CallToolResult:
        grants = await self.door.me(credential)
        granted = next((found for found in grants.actions if found.action == name), None)
        if granted is None:
            tools = ", ".join(tool.name for tool in tools_for(grants))
            raise BadRequest(f"there is no tool {name!r} for {grants.principal} (your tools: {tools})")
        given = arguments.get("action_id", f"action-{uuid.uuid4()}")
        if not isinstance(given, str):
            raise BadRequest(f"'action_id' must be text like action-..., got {given!r}", field="action_id")
        action_id = given
        body = action_body(granted, arguments, action_id=action_id)
        try:
            answer = await self.door.call(
                credential, "POST", "/v1/actions", body={**body, "wait": ACT_WAIT}, wait=ACT_WAIT
            )
        except Unavailable as down:  # the request may have started: the id makes a retry join it, never repeat it
            text = unavailable_text(down.message, action_id=action_id, tool=name)
            return result(text, {"error": down.message, "action_id": action_id}, error=True)
        if not answer.ok:
            return api_error(answer, action_id=action_id, tool=name)
        what = what_of(
            name,
            str(body["customer"]),
            body["params"],
            amount_param=granted.amount_param,
            currency=grants.currency,
        )
        return action_result(answer.payload, what=what)

    async def _wait(
        self, credential: Credential, arguments: dict[str, Any], *, tool: str, seconds: float
    ) -> CallToolResult:
        """The action as it stands, once it is no longer running or awaiting approval, or after `seconds`."""
        allowed = {"action_id", "seconds"} if tool == WAIT_FOR_ACTION else {"action_id"}
        unknown = sorted(set(arguments) - allowed)
        if unknown:
            raise BadRequest(f"{tool} takes no argument {unknown[0]!r}")
        action_id = arguments.get("action_id")
        if not isinstance(action_id, str):
            raise BadRequest(f"{tool} needs 'action_id', the id an action tool answered with (action-...)")
        check_action_id(action_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        delay = POLL_FIRST
        while True:
            answer = await self.door.call(credential, "GET", f"/v1/actions/{action_id}")
            if not answer.ok:
                return api_error(answer, tool=tool)
            waiting = Status(answer.payload["status"]) in STILL_WAITING
            if not waiting or loop.time() >= deadline:
                return action_result(answer.payload, what=await self._what(credential, answer.payload))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 1.5, POLL_MAX)

    async def _what(self, credential: Credential, payload: dict[str, Any]) -> str:
        """What the action is, in words (`refund of 40 USD for C-100`), from its request and the caller's grants."""
        request = payload.get("request") or {}
        action = str(request.get("action", "the action"))
        grants: PrincipalGrants = await self.door.me(credential)
        granted = next((found for found in grants.actions if found.action == action), None)
        return what_of(
            action,
            str(request.get("customer", "the customer")),
            request.get("params") or {},
            amount_param=granted.amount_param if granted is not None else None,
            currency=grants.currency,
        )


def _seconds(arguments: dict[str, Any]) -> float:
    value = arguments.get("seconds", DEFAULT_WAIT)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"wait_for_action: 'seconds' must be a number of seconds, got {value!r}")
    if not 0 <= value <= MAX_WAIT:
        raise BadRequest(f"wait_for_action: 'seconds' must be between 0 and {MAX_WAIT:.0f}, got {value}")
    return float(value)
