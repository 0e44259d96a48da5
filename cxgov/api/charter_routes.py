"""The charter endpoints of DESIGN "HTTP API": signatures, shadow mode, history (people only)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from cxgov.api.routes import Body, CallerDep, GateDep, person

router = APIRouter()


class CharterTextBody(Body):
    text: str = Field(max_length=60_000)
    """The charter file's text, exactly as on disk: its sha256 is what is signed or run in shadow."""
    person: str | None = Field(default=None, max_length=100)
    """Optional, and only ever the caller (the CLI's `--as`)."""


class SignatureBody(CharterTextBody):
    function: str = Field(max_length=100)
    """The sign-off function (legal, finance, ...) the file names the caller for."""


class PersonBody(Body):
    person: str | None = Field(default=None, max_length=100)


@router.post("/v1/charter/signatures", tags=["charter"])
async def sign_charter(body: SignatureBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Sign a charter file as the calling person, for a sign-off function the file names them for (403
    otherwise). The file must load; its sha256 is recorded with the person and the credential that proved them."""
    from cxgov.charter import charter_from_text
    from cxgov.charter.registry import CharterRegistry

    name = person(principal, "signing a charter", named=body.person)
    loaded = charter_from_text(body.text, shown="the charter sent")

    def sign() -> dict[str, Any]:
        registry = CharterRegistry(gate.settings.audit_url)
        try:
            signature = registry.sign(
                loaded=loaded, function=body.function, person=name, via=principal.via, now=datetime.now(UTC)
            )
            signed = {(s.function, s.person) for s in registry.signatures(loaded.sha256)}
        finally:
            registry.close()
        missing = [
            {"function": s.function, "by": s.by} for s in loaded.charter.signoffs if (s.function, s.by) not in signed
        ]
        charter = loaded.charter
        return {
            **signature.model_dump(mode="json"),
            "charter": charter.charter,
            "version": charter.version,
            "missing": missing,
        }

    return await asyncio.to_thread(sign)


@router.post("/v1/charter/shadow", tags=["charter"])
async def start_shadow(body: CharterTextBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Run a candidate charter in shadow (people only): every live request is decided against it too, without
    enforcing it. The candidate must load; it replaces any candidate already running."""
    from cxgov.charter import charter_from_text
    from cxgov.charter.shadow import ShadowLedger

    name = person(principal, "starting a shadow charter", named=body.person)
    loaded = charter_from_text(body.text, shown="the candidate charter sent")

    def start() -> dict[str, Any]:
        ledger = ShadowLedger(gate.settings.audit_url)
        try:
            return ledger.start(loaded, person=name, now=datetime.now(UTC)).model_dump(mode="json")
        finally:
            ledger.close()

    return await asyncio.to_thread(start)


@router.post("/v1/charter/shadow/stop", tags=["charter"])
async def stop_shadow(body: PersonBody, gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Stop the running shadow candidate (people only); its report stays readable. 404 when none runs."""
    from cxgov.charter.shadow import ShadowLedger

    name = person(principal, "stopping a shadow charter", named=body.person)

    def stop() -> dict[str, Any]:
        ledger = ShadowLedger(gate.settings.audit_url)
        try:
            return ledger.stop(person=name, now=datetime.now(UTC)).model_dump(mode="json")
        finally:
            ledger.close()

    return await asyncio.to_thread(stop)


@router.get("/v1/charter/shadow", tags=["charter"])
async def shadow_report(gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """The shadow report (people only): each decision the candidate would change, grouped, with counts and
    examples."""
    from cxgov.charter.shadow import ShadowLedger

    person(principal, "reading the shadow report")

    def report() -> dict[str, Any]:
        ledger = ShadowLedger(gate.settings.audit_url)
        try:
            return ledger.report().model_dump(mode="json")
        finally:
            ledger.close()

    return await asyncio.to_thread(report)


@router.get("/v1/charter/history", tags=["charter"])
async def charter_history(gate: GateDep, principal: CallerDep) -> dict[str, Any]:
    """Every charter file a worker loaded (people only): version, sha256, when, by which workers, sign-offs."""
    from cxgov.charter.registry import CharterRegistry

    person(principal, "reading the charter history")

    def history() -> dict[str, Any]:
        registry = CharterRegistry(gate.settings.audit_url)
        try:
            return {"versions": [entry.model_dump(mode="json") for entry in registry.history()]}
        finally:
            registry.close()

    return await asyncio.to_thread(history)
