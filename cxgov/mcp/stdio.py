"""`cxgov mcp`: the MCP tools over stdio for one agent, acting as whoever CXGOV_TOKEN proves.

It refuses to start without a credential (exit 2), when the API refuses it (exit 3), or when the API cannot be
reached (exit 1): an agent integrator sees the one line that says why in the client's server log, instead of a
server that starts and then fails every call. A key revoked while it runs makes every call an error result
that says the key was refused. Nothing but MCP messages is written to stdout; the start line goes to stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from cxgov.errors import BadRequest
from cxgov.frontdoor import Credential
from cxgov.mcp.door import ApiDoor
from cxgov.mcp.server import AgentTools
from cxgov.mcp.tools import tools_for
from cxgov.settings import Settings


async def serve_stdio(settings: Settings, *, say: Callable[[str], None]) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin.

    Raises:
        BadRequest: CXGOV_TOKEN is not set.
        CredentialRefused: The API does not accept it.
        Unavailable: The API cannot be reached.
    """
    if settings.token is None:
        raise BadRequest(
            "set CXGOV_TOKEN to the agent's key (`cxgov keys issue --actor NAME`): `cxgov mcp` acts as whoever "
            "that key proves",
            field="CXGOV_TOKEN",
        )
    credential = Credential(settings.token, "CXGOV_TOKEN")
    door = ApiDoor(settings.api_url)
    grants = await door.me(credential)
    names = ", ".join(tool.name for tool in tools_for(grants))
    say(f"cxgov mcp: serving {grants.kind} {grants.principal} over stdio via {door.url}; tools: {names}")

    def fixed(ctx: ServerRequestContext[Any, Any]) -> Credential:
        return credential

    server = AgentTools(door, fixed).server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
