"""The FastAPI application: who is calling (from the credential only), errors as JSON, a body size limit.

Every endpoint but `GET /healthz` needs `Authorization: Bearer <token>`: an API key (`cxgov keys issue`) or,
for people when CXGOV_OIDC_ISSUER is set, an OIDC token. Errors are `{"error", "exit_code"}` with the CLI's exit
codes: 401 no valid credential, 403 refused, 404 unknown (or not yours), 413 body over 64 KB, 422 bad input,
503 Temporal or the database unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxgov.charter import CharterCache
from cxgov.client import CxgovClient
from cxgov.errors import BadRequest, CxgovError, Denied, NotFound, Unavailable
from cxgov.identity import KeyStore, Principal
from cxgov.identity.oidc import OidcVerifier
from cxgov.settings import Settings

MAX_BODY = 64 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Unauthenticated(CxgovError):
    """No valid credential: missing, malformed, unknown, expired or revoked (401)."""

    exit_code = 3


@dataclass
class Gate:
    """What the API needs: the Temporal-facing client, the key store, and (optionally) an OIDC verifier."""

    client: CxgovClient
    keys: KeyStore
    charters: CharterCache
    settings: Settings
    oidc: OidcVerifier | None = None

    async def principal(self, request: Request) -> Principal:
        """Who is calling, proven by the bearer credential; a name in the request body never counts.

        Raises:
            Unauthenticated: No valid credential.
        """
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send Authorization: Bearer <token> (a key from `cxgov keys issue`)")
        found = await self.authenticate(token.strip())
        if found is None:
            raise Unauthenticated("the token is not valid: unknown, expired or revoked")
        return found

    async def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token proves (an API key, or an OIDC token naming a person), or None.

        The one check behind both the API and the MCP server's token verifier (`/mcp`).
        """
        found = await asyncio.to_thread(self.keys.authenticate, token, now=datetime.now(UTC))
        if found is None and self.oidc is not None and not token.startswith("cxgov_"):
            people = set(self.charters.get().people)
            found = await asyncio.to_thread(self.oidc.principal, token, people=people)
        return found


def status_of(err: CxgovError) -> int:
    """The HTTP status of an expected error."""
    if isinstance(err, Unauthenticated):
        return 401
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, BadRequest):
        return 422
    if isinstance(err, Denied):
        return 403
    if isinstance(err, Unavailable):
        return 503
    return 500


def error(code: int, message: str, exit_code: int, /, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "exit_code": exit_code, **extra}, status_code=code)


def _cut(text: str, limit: int = 60) -> str:
    shown = text if text.isprintable() else repr(text)  # a field named "\r\n" must not break the line
    return shown if len(shown) <= limit else f"{shown[:limit]}..."


class BodyLimit:
    """Refuse a request body over `limit` bytes with 413, before the endpoint reads any of it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error(413, f"the request body is over {self.limit // 1024} KB", 2)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(gate: Gate) -> FastAPI:
    """The API on `gate`'s client, keys and charter."""
    from cxgov.api import charter_routes, governance_routes
    from cxgov.api.routes import router

    app = FastAPI(
        title="cxgov",
        summary="Governance for the actions agents take on behalf of customers",
        description=__doc__,
        version="1",
    )
    app.state.gate = gate
    app.include_router(router)
    app.include_router(charter_routes.router)
    app.include_router(governance_routes.router)

    @app.exception_handler(CxgovError)
    async def _expected(request: Request, err: CxgovError) -> JSONResponse:
        return error(status_of(err), err.message, err.exit_code)

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "malformed request"}
        # A made-up field name is quoted back cut short: one clear line, not an echo of the body.
        where = ".".join(_cut(str(part)) for part in first.get("loc", ()) if part != "body")
        return error(422, f"{where}: {first.get('msg')}" if where else str(first.get("msg")), 2)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return error(err.status_code, str(err.detail), 2 if err.status_code < 500 else 1)

    from cxgov.mcp.http import mount_mcp

    mount_mcp(app, gate)  # the MCP tools at /mcp (streamable HTTP), checked by the same Gate
    from cxgov.console import mount_console

    mount_console(app, gate)  # the web console for people at / (sessions, CSRF; see cxgov.console)
    app.add_middleware(BodyLimit)
    return app
