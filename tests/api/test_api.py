"""The HTTP API end to end: a real server on loopback, a real worker and Temporal dev server behind it.

The principal comes from the credential only: a name in the body counts for nothing, an actor sees only its own
actions, approvals and reversals are for people, and every refusal is an answer with its reason."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from apikit import Api, serving
from harness import Stack, start_stack
from temporalio.testing import WorkflowEnvironment

from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox

REFUND_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
REFUND_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}


@pytest_asyncio.fixture
async def api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    async with serving(stack, tmp_path) as running:
        yield running


def action(params: dict[str, str], **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "action": "refund",
        "customer": "C-100",
        "channel": "chat",
        "reason": "arrived torn",
        "params": params,
    }
    return {**body, **fields}


async def test_health_needs_no_credential_and_reports_temporal_and_the_worker(api: Api) -> None:
    async with api.client() as anonymous:
        answer = await anonymous.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"ok": True, "temporal": True, "worker": True})


async def test_no_valid_credential_is_401_and_a_revoked_key_stops_at_once(api: Api) -> None:
    async with api.client() as anonymous:
        missing = await anonymous.post("/v1/actions", json=action(REFUND_40))
    assert missing.status_code == 401 and missing.json()["exit_code"] == 3
    assert missing.json()["error"].startswith("send Authorization: Bearer <token>")
    async with api.client(token="cxgov_k0000000000000000_" + "x" * 43) as forged:
        assert (await forged.get("/v1/approvals")).status_code == 401
    token = api.token("ana")
    async with api.client(token=token) as ana:
        assert (await ana.get("/v1/approvals")).status_code == 200
        key_id = token.split("_")[1]
        api.keys.revoke(key_id=key_id, now=datetime.now(UTC))
        revoked = await ana.get("/v1/approvals")
    assert revoked.status_code == 401 and "expired or revoked" in revoked.json()["error"]


async def test_an_agent_acts_as_itself_and_sees_only_its_own_actions(api: Api) -> None:
    async with api.client("support-bot") as bot:
        done = await bot.post("/v1/actions", json=action(REFUND_40))
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["decision"]["rule"]) == ("completed", "6-allow")
        waiting = await bot.post("/v1/actions", json=action(REFUND_120))
        assert (waiting.status_code, waiting.json()["status"]) == (202, "awaiting_approval")
        mine = await bot.get(f"/v1/actions/{done.json()['action_id']}")
        assert mine.status_code == 200 and mine.json()["request"]["actor"] == "support-bot"
        posing = await bot.post("/v1/actions", json=action(REFUND_40, actor="returns-sync"))
        assert posing.status_code == 403 and "cannot name another actor" in posing.json()["error"]
        bad = await bot.post("/v1/actions", json=action({"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "-5"}))
        assert bad.status_code == 422 and bad.json()["exit_code"] == 2
        extra = await bot.post("/v1/actions", json={**action(REFUND_40), "approved_by": "ana"})
        assert extra.status_code == 422 and "approved_by" in extra.json()["error"]
    async with api.client("returns-sync") as other:
        hidden = await other.get(f"/v1/actions/{done.json()['action_id']}")
        assert hidden.status_code == 404
        assert (await other.get("/v1/approvals")).status_code == 403, "approvals are for people"
    async with api.client("ana") as ana:
        assert (await ana.get(f"/v1/actions/{done.json()['action_id']}")).status_code == 200
        unknown = await ana.get(f"/v1/actions/action-{uuid.uuid4()}")
        assert unknown.status_code == 404


async def test_people_decide_as_themselves_and_refusals_are_answers(api: Api) -> None:
    async with api.client("support-bot") as bot:
        waiting = (await bot.post("/v1/actions", json=action(REFUND_120))).json()
        own = await bot.post(f"/v1/actions/{waiting['action_id']}/approve", json={"reason": "me"})
        assert own.status_code == 403 and "for people" in own.json()["error"]
    action_id = waiting["action_id"]
    async with api.client("omar") as omar:
        pending = (await omar.get("/v1/approvals")).json()["pending"]
        assert all(item["action_id"] != action_id for item in pending), "omar may not decide it"
        refused = await omar.post(f"/v1/actions/{action_id}/approve", json={"reason": "looks fine"})
    assert refused.status_code == 403 and refused.json()["accepted"] is False
    assert "omar is not on ladder step 1" in refused.json()["error"]
    async with api.client("ben") as ben:
        queue = (await ben.get("/v1/approvals")).json()
        assert action_id in [item["action_id"] for item in queue["pending"]] and queue["unreadable"] == []
        approved = await ben.post(f"/v1/actions/{action_id}/approve", json={"reason": "photo checked"})
        assert approved.status_code == 200, approved.text
        assert (approved.json()["accepted"], approved.json()["status"]) == (True, "completed")
        status = (await ben.get(f"/v1/actions/{action_id}")).json()
    attempts = [(a["person"], a["accepted"]) for a in status["approvals"]]
    assert attempts == [("omar", False), ("ben", True)], "the refused attempt is on the record"


async def test_reversal_by_the_owner_role_only(api: Api) -> None:
    async with api.client("support-bot") as bot:
        done = (await bot.post("/v1/actions", json=action(REFUND_40))).json()
    async with api.client("ana") as ana:
        refused = await ana.post(f"/v1/actions/{done['action_id']}/reverse", json={"reason": "wrong role"})
    assert refused.status_code == 403 and "not in refund's reversal owner role finance-ops" in refused.json()["error"]
    async with api.client("farid") as farid:
        reversed_ = await farid.post(f"/v1/actions/{done['action_id']}/reverse", json={"reason": "kept it"})
    assert reversed_.status_code == 200 and (reversed_.json()["status"], reversed_.json()["by"]) == (
        "reversed",
        "farid",
    )


async def test_big_bodies_are_413_and_the_openapi_lists_every_endpoint(api: Api) -> None:
    async with api.client("support-bot") as bot:
        huge = await bot.post("/v1/actions", json=action(REFUND_40, reason="x" * 70_000))
        assert huge.status_code == 413 and huge.json() == {"error": "the request body is over 64 KB", "exit_code": 2}
        spec = (await bot.get("/openapi.json")).json()
    assert {"/healthz", "/v1/actions", "/v1/actions/{action_id}", "/v1/approvals", "/v1/audit"} <= set(spec["paths"])
    assert "/v1/actions/{action_id}/approve" in spec["paths"] and "/v1/actions/{action_id}/reverse" in spec["paths"]


async def test_the_audit_trail_streams_to_people_only(api: Api) -> None:
    api.token("support-bot")
    api.token("farid")  # each issue is an audit record of its own
    async with api.client("support-bot") as bot:
        assert (await bot.get("/v1/audit")).status_code == 403
    async with api.client("farid") as farid:
        lines = (await farid.get("/v1/audit")).text.splitlines()
        table = (await farid.get("/v1/audit", params={"format": "csv", "actor": "support-bot"})).text
        bad = await farid.get("/v1/audit", params={"since": "last tuesday"})
    assert [json.loads(line)["kind"] for line in lines] == ["key_issued", "key_issued"]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(row["kind"], row["actor"]) for row in rows] == [("key_issued", "support-bot")]
    assert bad.status_code == 422 and "since 'last tuesday'" in bad.json()["error"]


@pytest_asyncio.fixture
async def drilled_api(dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Api]:
    """The API in front of a worker that runs drills, with its drill ledger in the API's database."""
    ledger = DrillLedger(f"sqlite:///{tmp_path / 'audit.db'}")
    built, worker = await start_stack(dev_env.client, sandbox, drills=ledger, drill_workspace=tmp_path / "drills")
    try:
        async with worker, serving(built, tmp_path) as running:
            yield running
    finally:
        ledger.close()


async def test_people_review_and_run_drills_and_read_questions_and_gaps(drilled_api: Api) -> None:
    api = drilled_api
    async with api.client("support-bot") as bot:
        for path in ("/v1/drills", "/v1/questions", "/v1/gaps"):
            assert (await bot.get(path)).status_code == 403, path
        assert (await bot.post("/v1/drills/refund/run")).status_code == 403
    async with api.client("farid") as farid:
        before = {row["action"]: row for row in (await farid.get("/v1/drills")).json()["drills"]}
        assert set(before) == {"refund", "change_address", "cancel_order", "book_appointment"}
        assert before["refund"]["result"] is None and before["refund"]["overdue"] is True
        ran = await farid.post("/v1/drills/refund/run")
        assert ran.status_code == 200 and ran.json()["passed"] is True, ran.text
        after = {row["action"]: row for row in (await farid.get("/v1/drills")).json()["drills"]}
        assert (after["refund"]["result"], after["refund"]["overdue"]) == ("passed", False)
        unknown = await farid.post("/v1/drills/share_customer_data/run")
        assert unknown.status_code == 404 and "not a reversible action" in unknown.json()["error"]
        answers = (await farid.get("/v1/questions", params={"actor": "support-bot"})).json()
        assert [actor["actor"] for actor in answers["actors"]] == ["support-bot"]
        report = (await farid.get("/v1/gaps")).json()
    assert "findings" in report and report["findings"] >= 1


async def test_a_person_signs_in_with_an_oidc_token_from_the_configured_issuer(api: Api) -> None:
    """Single sign-on: with an OIDC issuer configured, its token names the person; keys keep working."""
    from identity.oidckit import AUDIENCE, Issuer

    from cxgov.identity.oidc import OidcSettings, OidcVerifier

    issuer = Issuer()
    try:
        gate = api.gate
        gate.oidc = OidcVerifier(OidcSettings(issuer=issuer.url, audience=AUDIENCE))
        async with api.client(token=issuer.token(preferred_username="ben")) as ben:
            answer = await ben.get("/v1/approvals")
        assert (answer.status_code, answer.json()) == (200, {"pending": [], "unreadable": []})
        async with api.client(token=issuer.token(preferred_username="support-bot")) as posing:
            assert (await posing.get("/v1/approvals")).status_code == 401, "an OIDC token names people only"
        async with api.client(token=issuer.token(aud="elsewhere")) as wrong:
            assert (await wrong.get("/v1/approvals")).status_code == 401
    finally:
        issuer.stop()


async def test_a_client_that_stops_reading_the_audit_stream_stops_the_export(api: Api, tmp_path: Path) -> None:
    from cxgov.api.routes import EXPORT_THREAD
    from cxgov.audit.store import AuditArchive
    from cxgov.audit.tables import AuditRecordBase

    with AuditArchive(f"sqlite:///{tmp_path / 'audit.db'}") as archive:
        now = datetime.now(UTC)
        archive.append_records(
            records=(
                AuditRecordBase(kind="action", time=now, source=f"load-{n}", actor="support-bot", reason="x" * 500)
                for n in range(3000)
            )
        )

    def exporting() -> int:
        return sum(thread.name == EXPORT_THREAD for thread in threading.enumerate())

    async with api.client("farid") as farid, farid.stream("GET", "/v1/audit") as answer:
        assert answer.status_code == 200
        async for line in answer.aiter_lines():
            assert json.loads(line)["source"] == "load-0"
            break  # and hang up
    deadline = time.monotonic() + 10
    while exporting() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert exporting() == 0, "the export thread stopped when the client hung up"
