"""`/mcp` on the HTTP server: the MCP tools over streamable HTTP, with the bearer token checked by the SDK.

The SDK's token verifier asks the API's own Gate (an API key, or an OIDC token naming a person), so a token is
accepted at `/mcp` exactly when it is accepted at `/v1/...`; without a valid one the SDK's auth layer answers 401
before any MCP message is read. The tools then call the same FastAPI app in process with that same token, so an
MCP call is checked, signed and decided exactly like an API call.

The transport is stateless: each request stands alone, proven by its own bearer token, so nothing is lost when
the server restarts and several API servers can serve the same agents. The SDK's session manager still needs its
task group: `mount_mcp` runs it inside the app's lifespan (uvicorn, as `cxgov up` and `cxgov serve` run it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from starlette.routing import Route

from cxgov.api.app import Gate
from cxgov.api.serve import bind_address
from cxgov.frontdoor import Credential
from cxgov.mcp.door import ApiDoor
from cxgov.mcp.server import AgentTools

PATH = "/mcp"
IN_PROCESS = "http://cxgov.in-process"
"""The base URL the tools reach the app by (an ASGI transport: no socket, no DNS)."""


class GateVerifier:
    """The SDK's `TokenVerifier` on the API's Gate: the same keys, the same OIDC issuer, the same answer."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = await self.gate.authenticate(token.strip())
        if principal is None:
            return None
        return AccessToken(
            token=token.strip(),
            client_id=principal.name,
            subject=principal.name,
            scopes=[],
            claims={"kind": principal.kind, "via": principal.via},
        )


def request_credential(ctx: ServerRequestContext[Any, Any]) -> Credential | None:
    """The token the SDK's auth layer verified for this very HTTP request (None: not authenticated)."""
    request = ctx.request
    user = request.scope.get("user") if request is not None and hasattr(request, "scope") else None
    if not isinstance(user, AuthenticatedUser):
        return None
    return Credential(user.access_token.token, "the bearer token of this request")


def mount_mcp(app: FastAPI, gate: Gate) -> None:
    """Serve the MCP tools at `/mcp` on `app`, and run the SDK's session manager within the app's lifespan.

    The route goes first, so that no catch-all mount (the console at `/`) can shadow it; it is left out of the
    OpenAPI document, which describes the JSON API only.
    """
    # An unexpected error in the app is its 500 answer, as over the network, not an exception in the tool.
    door = ApiDoor(IN_PROCESS, transport=httpx.ASGITransport(app=app, raise_app_exceptions=False))
    server = AgentTools(door, request_credential).server()
    host, port = bind_address(gate.settings.http_address)
    mcp_app = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        host=host,  # a loopback address turns on the SDK's DNS rebinding protection
        # Bearer tokens required, no OAuth routes, no resource metadata: the issuer is only a label here, and
        # cxgov issues its keys itself (OIDC tokens are checked against their own issuer by the Gate).
        auth=AuthSettings(issuer_url=f"http://{f'[{host}]' if ':' in host else host}:{port}", resource_server_url=None),
        token_verifier=GateVerifier(gate),
    )
    app.router.routes.insert(0, Route(PATH, endpoint=mcp_app, include_in_schema=False))
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), outer(running) as state:
            yield state

    app.router.lifespan_context = lifespan
