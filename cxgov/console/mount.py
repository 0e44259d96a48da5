"""Putting the console on the API's app: its routes, its stylesheet, its sessions and single sign-on."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cxgov.api.app import Gate
from cxgov.console import actions, door, governance
from cxgov.console.render import STATIC
from cxgov.console.sessions import SessionStore
from cxgov.console.sso import SingleSignOn

STATIC_PATH = "/static"


def single_sign_on(gate: Gate) -> SingleSignOn | None:
    """The OIDC code flow when CXGOV_OIDC_ISSUER, CXGOV_OIDC_CLIENT_ID and _CLIENT_SECRET are all set."""
    settings = gate.settings
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    return SingleSignOn(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        claim=settings.oidc_claim,
    )


def mount_console(app: FastAPI, gate: Gate) -> None:
    """Serve the console at `/` on `app` (the API's routes, `/mcp`, `/docs` and `/healthz` are untouched)."""
    app.state.console = door.Console(gate=gate, sessions=SessionStore(), sso=single_sign_on(gate))
    app.include_router(door.router)
    app.include_router(actions.router)
    app.include_router(governance.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="static")
