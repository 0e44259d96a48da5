"""The HTTP API on a real uvicorn server bound to a free loopback port, in front of a test stack's worker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from harness import Stack

from cxgov.api import Gate, create_app
from cxgov.charter import CharterCache
from cxgov.identity import KeyStore
from cxgov.identity.oidc import OidcSettings, OidcVerifier
from cxgov.settings import Settings


@dataclass
class Api:
    """A running API: its base URL, the key store behind it, and one key per name issued so far."""

    url: str
    keys: KeyStore
    tokens: dict[str, str]
    gate: Gate

    def token(self, name: str, *, kind: str | None = None) -> str:
        """A key for `name` (an actor of the charter unless `kind` says person), issued once and reused."""
        if name not in self.tokens:
            chosen = kind or ("actor" if "-" in name else "person")
            issued = self.keys.issue(
                principal=name, kind="actor" if chosen == "actor" else "person", expires_in=None, now=datetime.now(UTC)
            )
            self.tokens[name] = issued.token
        return self.tokens[name]

    def client(self, name: str | None = None, *, token: str | None = None) -> httpx.AsyncClient:
        """An HTTP client calling as `name` (or with `token`, or with no credential at all)."""
        bearer = token if token is not None else (self.token(name) if name is not None else None)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


@contextlib.asynccontextmanager
async def serving(stack: Stack, home: Path, **settings: Any) -> AsyncIterator[Api]:
    """Serve the HTTP server (API, MCP, console) for `stack` until the block ends, with `settings` changed (the
    OIDC issuer and client, for single sign-on); the server is stopped before this returns."""
    base = Settings(home=home, database_url=f"sqlite:///{home / 'audit.db'}", charter_path=stack.charter_path)
    chosen = dataclasses.replace(base, **settings)
    keys = KeyStore(chosen.audit_url)
    oidc = None
    if chosen.oidc_issuer is not None:
        oidc = OidcVerifier(OidcSettings(issuer=chosen.oidc_issuer, audience=chosen.oidc_audience))
    gate = Gate(client=stack.client, keys=keys, charters=CharterCache(stack.charter_path), settings=chosen, oidc=oidc)
    server = uvicorn.Server(uvicorn.Config(create_app(gate), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Api(url=f"http://127.0.0.1:{port}", keys=keys, tokens={}, gate=gate)
    finally:
        server.should_exit = True
        await task
        keys.close()
