"""Signing and shadow mode through the real HTTP API, with a real worker and Temporal dev server behind it.

Signing is an act of the person the charter names: the credential's principal counts, never a name in the
body. Decisions and the archived records carry the charter's sha256. A shadow candidate decides live requests
too, changes none of them, and its report groups what it would change.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from api.apikit import Api, serving
from cli.clikit import child_env, run_subprocess
from harness import CHARTER, Stack, start_stack, write_charter
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.derive import derive
from cxgov.audit.store import AuditArchive
from cxgov.charter import read_charter
from cxgov.charter.registry import CharterRegistry
from cxgov.charter.shadow import ShadowGate, ShadowLedger
from cxgov.sandbox import Sandbox

SHA = read_charter(CHARTER).sha256


@dataclass
class Served:
    stack: Stack
    api: Api
    home: Path

    @property
    def audit_url(self) -> str:
        return f"sqlite:///{self.home / 'audit.db'}"

    def cli(self, *args: str, person: str = "ana") -> dict[str, object]:
        env = child_env(
            {
                "CXGOV_HOME": str(self.home),
                "CXGOV_CHARTER": str(CHARTER),
                "CXGOV_API_URL": self.api.url,
                "CXGOV_TOKEN": self.api.token(person),
            }
        )
        done = run_subprocess(*args, "--json", env=env)
        assert done.code == 0, done
        found: dict[str, object] = json.loads(done.out)
        return found


@pytest_asyncio.fixture
async def served(dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Served]:
    home = tmp_path / "home"
    home.mkdir()
    ledger = ShadowLedger(f"sqlite:///{home / 'audit.db'}")
    built, worker = await start_stack(dev_env.client, sandbox, shadow=ShadowGate(ledger))
    try:
        async with worker, serving(built, home) as api:
            yield Served(stack=built, api=api, home=home)
    finally:
        ledger.close()


def refund(amount: str, sku: str = "JACKET-BLK-L") -> dict[str, object]:
    return {
        "action": "refund",
        "customer": "C-100",
        "channel": "chat",
        "reason": "arrived torn",
        "params": {"order_id": "O-1001", "sku": sku, "amount": amount},
    }


async def test_only_the_named_person_signs_with_their_own_credential(served: Served) -> None:
    body = {"text": CHARTER.read_text(), "function": "legal"}
    async with served.api.client("farid") as farid:
        wrong = await farid.post("/v1/charter/signatures", json=body)
    assert (wrong.status_code, wrong.json()["exit_code"]) == (403, 3)
    assert wrong.json()["error"] == "charter acme-retail v3 names dana for the 'legal' sign-off, not farid"
    async with served.api.client("farid") as farid:
        posing = await farid.post("/v1/charter/signatures", json={**body, "person": "dana"})
    assert posing.status_code == 403 and "a request cannot be made as dana" in posing.json()["error"]
    async with served.api.client("support-bot") as bot:
        actor = await bot.post("/v1/charter/signatures", json=body)
    assert actor.status_code == 403 and "is for people" in actor.json()["error"]
    async with served.api.client("dana") as dana:
        broken = await dana.post("/v1/charter/signatures", json={**body, "text": "charter: [unclosed"})
        unknown = await dana.post("/v1/charter/signatures", json={**body, "function": "marketing"})
    assert broken.status_code == 422 and broken.json()["error"].startswith("the charter sent")
    assert unknown.status_code == 403 and "declares no sign-off of 'marketing'" in unknown.json()["error"]

    signed = await asyncio.to_thread(
        served.cli, "charter", "sign", str(CHARTER), "--function", "legal", "--as", "dana", person="dana"
    )
    assert (signed["person"], signed["function"], signed["sha256"], signed["version"]) == ("dana", "legal", SHA, 3)
    assert str(signed["via"]).startswith("key k"), "the credential that proved the signer is recorded"
    assert signed["missing"] == [{"function": "finance", "by": "farid"}, {"function": "support", "by": "ana"}]
    registry = CharterRegistry(served.audit_url)
    try:
        assert [(s.function, s.person) for s in registry.signatures(SHA)] == [("legal", "dana")]
    finally:
        registry.close()
    archive = AuditArchive(served.audit_url)
    try:
        records = [r for r in archive.query() if r.kind == "charter_signed"]
        assert [(r.actor, r.charter_version, r.charter_sha256) for r in records] == [("dana", 3, SHA)]
        assert archive.verify().ok
    finally:
        archive.close()


async def test_decisions_and_archived_records_carry_the_charter_sha256(served: Served) -> None:
    async with served.api.client("support-bot") as bot:
        done = await bot.post("/v1/actions", json=refund("40", sku="TEE-RED-M"))
        assert done.status_code == 200, done.text
        action_id = done.json()["action_id"]
        status = await bot.get(f"/v1/actions/{action_id}")
    assert (status.json()["charter_version"], status.json()["charter_sha256"]) == (3, SHA)
    history = await served.stack.temporal.get_workflow_handle(action_id).fetch_history()
    run, records = derive(history, archived_at=datetime.now(UTC))
    archive = AuditArchive(served.audit_url)
    try:
        archive.append_run(run=run, records=records)
        stored = [r for r in archive.query() if r.action_id == action_id]
        assert [(r.kind, r.charter_version, r.charter_sha256) for r in stored] == [("action", 3, SHA)]
        assert archive.verify().ok
    finally:
        archive.close()


def test_an_older_archive_gains_the_column_and_its_records_still_verify(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    from cxgov.audit.tables import AuditRecordBase

    def record(n: int, sha: str | None) -> AuditRecordBase:
        return AuditRecordBase(
            kind="key_issued", time=datetime.now(UTC), source=f"old-{n}", charter_version=3, charter_sha256=sha
        )

    archive = AuditArchive(url)
    archive.append_records(records=[record(1, None), record(2, None)])
    archive.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:  # the archive as it was before the column existed
        db.execute("ALTER TABLE audit_record DROP COLUMN charter_sha256")
    for _ in range(2):  # opening it adds the column, once
        archive = AuditArchive(url)
        archive.close()
    archive = AuditArchive(url)
    try:
        archive.append_records(records=[record(3, SHA)])
        assert [r.charter_sha256 for r in archive.query()] == [None, None, SHA]
        report = archive.verify()
        assert (report.ok, report.checked) == (True, 3)
    finally:
        archive.close()


async def test_a_shadow_candidate_decides_live_requests_without_changing_them(served: Served, tmp_path: Path) -> None:
    tier1 = "  - role: tier1\n    action: cancel_order\n"
    candidate = write_charter(
        tmp_path,
        ("max_amount: 200 ", "max_amount: 100 "),
        ("approve_above: 50 ", "approve_above: 30 "),
        (tier1, tier1 + "  - role: tier1\n    action: change_address\n"),
    )
    started = await asyncio.to_thread(served.cli, "charter", "shadow", str(candidate), person="ana")
    assert (started["version"], started["started_by"], started["stopped_at"]) == (4, "ana", None)

    statuses = {}
    async with served.api.client("support-bot") as bot:
        for amount, sku in (
            ("20", "TEE-RED-M"),
            ("40", "JACKET-BLK-L"),
            ("120", "JACKET-BLK-L"),
            ("130", "JACKET-BLK-L"),
        ):
            answer = await bot.post("/v1/actions", json={**refund(amount, sku), "wait": 5})
            statuses[amount] = (answer.json()["action_id"], answer.json()["status"], answer.json()["decision"]["rule"])
    async with served.api.client("omar") as omar:
        moved = {"order_id": "O-1001", "address": "2 Side St"}
        gap = await omar.post("/v1/actions", json={**refund("1"), "action": "change_address", "params": moved})
    # The live charter decided, as always: the candidate enforces nothing.
    assert {amount: found[1:] for amount, found in statuses.items()} == {
        "20": ("completed", "6-allow"),
        "40": ("completed", "6-allow"),
        "120": ("awaiting_approval", "5-approve-above"),
        "130": ("awaiting_approval", "5-approve-above"),
    }
    assert (gap.json()["status"], gap.json()["decision"]["gap"]) == ("denied", True)

    report = await asyncio.to_thread(served.cli, "charter", "shadow", "report")
    assert (report["decided"], report["unchanged"]) == (5, 1)
    groups = [(g["live"], g["shadow"], g["rule"], g["count"]) for g in report["changed"]]  # type: ignore[union-attr,index]
    assert groups == [
        ("escalate", "deny", "4-max-amount", 2),
        ("allow", "escalate", "5-approve-above", 1),
        ("gap", "allow", "6-allow", 1),
    ]
    denied = report["changed"][0]  # type: ignore[index]
    assert [e["action_id"] for e in denied["examples"]] == [statuses["120"][0], statuses["130"][0]]
    assert "100" in denied["examples"][0]["reasons"][0], denied
    text = run_subprocess("charter", "shadow", "report", env=child_env({"CXGOV_HOME": str(served.home)}))
    assert "5 live request(s) decided by both; 1 unchanged, 4 changed" in text.out
    assert "  escalate -> deny  (candidate rule 4-max-amount): 2" in text.out
    assert f"      {statuses['120'][0]}  support-bot refund: " in text.out

    stopped = await asyncio.to_thread(served.cli, "charter", "shadow", "stop", person="carla")
    assert (stopped["stopped_by"], stopped["version"]) == ("carla", 4)
    await asyncio.sleep(1.2)  # workers see the stop within one second
    async with served.api.client("support-bot") as bot:
        await bot.post("/v1/actions", json={**refund("120"), "wait": 1})
    after = await asyncio.to_thread(served.cli, "charter", "shadow", "report")
    assert after["decided"] == 5, "a stopped candidate decides nothing more"
    async with served.api.client("ana") as ana:
        again = await ana.post("/v1/charter/shadow/stop", json={})
    assert again.status_code == 404 and "no shadow candidate is running" in again.json()["error"]
