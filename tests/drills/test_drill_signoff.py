"""Drill sign-off: a named human of the reversal owner role signs the latest passing drill.

The server-backed tests run a real drill worker on the session's Temporal dev server, the real HTTP API in front
of it, and `cxgov` in-process (on a thread, with the key files `cxgov up` would write), all on one SQLite file
(CXGOV_HOME/audit.db). The gap tests judge signatures at chosen moments against real SQLite files, no server.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from api.apikit import Api, serving
from drillkit import DrillStack, DrillStackFactory, run_drill
from harness import CHARTER, Outcome, write_charter
from temporalio.testing import WorkflowEnvironment

from cxgov import cli
from cxgov.audit.store import AuditArchive
from cxgov.charter import Charter, load_charter
from cxgov.drills.ledger import DrillLedger
from cxgov.drills.signatures import SIGNATURE_MAX_AGE, DrillSignatures
from cxgov.errors import Denied
from cxgov.frontdoor import write_key
from cxgov.gaps import gap_report
from cxgov.wire import DrillResult

REASON = "watched the clawback restore the sandbox"
NOT_OWNER = (
    "ana is not a member of finance-ops, the reversal owner role of refund: only its members (farid) sign its drills"
)


@dataclass
class Signoff:
    """A drill worker, the API in front of it, and `cxgov` pointed at both (key files for farid, ana, support-bot)."""

    stack: DrillStack
    api: Api
    home: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.home / 'audit.db'}"

    async def cxgov(self, *args: str) -> Outcome:
        self.capsys.readouterr()
        code = await asyncio.to_thread(cli.run, list(args))
        captured = self.capsys.readouterr()
        return Outcome(code=code, out=captured.out, err=captured.err)

    async def json(self, *args: str) -> dict[str, Any]:
        outcome = await self.cxgov(*args, "--json")
        assert outcome.code == 0, outcome
        return outcome.json()

    async def drill(self, action: str) -> DrillResult:
        result = await run_drill(self.stack, action)
        assert result.passed, result
        return result

    def signatures(self, action: str) -> list[tuple[str, str]]:
        """(person, drill id) of every stored signature of `action`'s drills."""
        opened = DrillSignatures(self.url)
        try:
            return [(signed.person, signed.drill_id) for signed in opened.signatures(action=action)]
        finally:
            opened.close()

    def audit_records(self) -> list[tuple[str | None, str | None, str | None, str]]:
        """(actor, action, reason, detail) of every `drill_signed` record in the audit chain."""
        archive = AuditArchive(self.url)
        try:
            return [(r.actor, r.action, r.reason, r.detail) for r in archive.query(kind="drill_signed")]
        finally:
            archive.close()


@pytest_asyncio.fixture
async def signoff(
    dev_env: WorkflowEnvironment,
    drill_stack: DrillStackFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> AsyncIterator[Signoff]:
    for name in [name for name in os.environ if name.startswith("CXGOV_")]:
        monkeypatch.delenv(name)
    stack = await drill_stack()
    async with serving(stack, tmp_path) as api:
        for name in ("farid", "ana", "support-bot"):
            write_key(tmp_path / "keys", name, api.token(name), person=name != "support-bot")
        settings = {
            "CXGOV_HOME": str(tmp_path),
            "CXGOV_CHARTER": str(CHARTER),
            "CXGOV_API_URL": api.url,
            "CXGOV_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "CXGOV_TASK_QUEUE": stack.task_queue,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        yield Signoff(stack=stack, api=api, home=tmp_path, capsys=capsys)


def unsigned(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["action"]: item for item in report["unsigned_drills"]}


async def test_a_reversal_owner_signs_the_latest_passing_drill_and_every_view_shows_it(signoff: Signoff) -> None:
    before = unsigned(await signoff.json("gaps"))
    assert set(before) == {"refund", "change_address", "cancel_order", "book_appointment"}
    assert before["refund"]["because"] == (
        "no drill of refund has passed, so there is nothing to sign: run `cxgov drills run refund`"
    )
    await signoff.drill("refund")
    latest = await signoff.drill("refund")

    signed = await signoff.json("drills", "sign", "refund", "--as", "farid", "--reason", REASON)
    assert (signed["action"], signed["drill_id"], signed["person"], signed["reason"]) == (
        "refund",
        latest.drill_id,
        "farid",
        REASON,
    )
    assert datetime.fromisoformat(str(signed["drill_finished"])) == latest.finished
    assert str(signed["via"]).startswith("key k"), "the credential that proved the signer is recorded"
    again = await signoff.cxgov("drills", "sign", "refund", "--as", "farid", "--reason", "a second look")
    assert (again.code, again.err) == (0, "")
    assert again.out.startswith(f"farid signed the drill of refund that passed {latest.finished:%Y-%m-%d %H:%M} UTC")
    assert await signoff.json("drills", "sign", "refund", "--as", "farid", "--reason", REASON) == signed
    assert signoff.signatures("refund") == [("farid", latest.drill_id)], "signing a drill again is idempotent"

    rows = {row["action"]: row for row in (await signoff.json("drills", "list"))["drills"]}
    assert rows["refund"]["signed_by"] == "farid"
    assert datetime.fromisoformat(rows["refund"]["signed_at"]) == datetime.fromisoformat(signed["signed_at"])
    assert (rows["change_address"]["signed_by"], rows["change_address"]["signed_at"]) == (None, None)
    listing = await signoff.cxgov("drills", "list")
    [line] = [line for line in listing.out.splitlines() if line.strip().startswith("refund ")]
    assert " signed by farid " in line
    async with signoff.api.client("ana") as ana:
        served = {row["action"]: row for row in (await ana.get("/v1/drills")).json()["drills"]}
    assert served["refund"]["signed_by"] == "farid"

    answers = await signoff.json("questions", "--actor", "support-bot")
    [bot] = answers["actors"]
    drills = {action["action"]: action["reversibility"]["drill"] for action in bot["actions"]}
    tested = f"{latest.finished:%Y-%m-%d}"
    assert (drills["refund"]["signed_by"], drills["refund"]["signoff"]) == (
        "farid",
        f"tested {tested}, signed by farid",
    )
    assert drills["refund"]["signed_drill"] == latest.drill_id
    assert (drills["cancel_order"]["signed_by"], drills["cancel_order"]["signoff"]) == (
        None,
        "not signed by a named human",
    )
    text = (await signoff.cxgov("questions", "--actor", "support-bot")).out.splitlines()
    [refund_line] = [line for line in text if line.startswith("    drill   every 30d (drill-refund);")]
    assert refund_line.endswith(f"; tested {tested}, signed by farid")

    after = unsigned(await signoff.json("gaps"))
    assert set(after) == {"change_address", "cancel_order", "book_appointment"}, "signing closed refund's gap"
    gaps_text = (await signoff.cxgov("gaps")).out.splitlines()
    assert "drills not signed by a named human within 90d: 3" in gaps_text
    assert not any(line.startswith("  refund:") for line in gaps_text)

    [(actor, action, reason, detail)] = signoff.audit_records()
    assert (actor, action, reason) == ("farid", "refund", REASON)
    assert json.loads(detail)["drill_id"] == latest.drill_id
    verified = await signoff.json("audit", "verify")
    assert verified["ok"] is True


async def test_only_a_person_of_the_reversal_owner_role_signs_a_passing_drill_and_refusals_record_nothing(
    signoff: Signoff,
) -> None:
    none_passed = await signoff.cxgov("drills", "sign", "refund", "--as", "farid", "--reason", REASON)
    assert (none_passed.code, none_passed.out) == (3, "")
    assert none_passed.err == (
        "cxgov: no drill of refund has passed: there is nothing to sign (run `cxgov drills run refund`)\n"
    )
    await signoff.drill("refund")

    not_owner = await signoff.cxgov("drills", "sign", "refund", "--as", "ana", "--reason", REASON)
    assert (not_owner.code, not_owner.one_error_line()) == (3, f"cxgov: {NOT_OWNER}")
    irreversible = await signoff.cxgov("drills", "sign", "share_customer_data", "--as", "farid", "--reason", REASON)
    assert irreversible.code == 2
    assert irreversible.one_error_line().startswith("cxgov: 'share_customer_data' is not a reversible action of ")
    actor_key = await signoff.cxgov("drills", "sign", "refund", "--as", "support-bot", "--reason", REASON)
    assert actor_key.code == 3
    assert actor_key.one_error_line() == "cxgov: signing a drill is for people; support-bot calls with an actor key"

    body = {"reason": REASON}
    async with signoff.api.client("ana") as ana:
        refused = await ana.post("/v1/drills/refund/signatures", json=body)
    assert (refused.status_code, refused.json()) == (403, {"error": NOT_OWNER, "exit_code": 3})
    async with signoff.api.client("support-bot") as bot:
        actor = await bot.post("/v1/drills/refund/signatures", json=body)
    assert actor.status_code == 403 and "is for people" in actor.json()["error"]
    async with signoff.api.client("farid") as farid:
        posing = await farid.post("/v1/drills/refund/signatures", json={**body, "person": "ana"})
        blank = await farid.post("/v1/drills/refund/signatures", json={"reason": "   "})
        missing = await farid.post("/v1/drills/refund/signatures", json={})
        unknown = await farid.post("/v1/drills/close_account/signatures", json=body)
    assert posing.status_code == 403 and "a request cannot be made as ana" in posing.json()["error"]
    assert (blank.status_code, blank.json()["exit_code"]) == (422, 2)
    assert blank.json()["error"] == "the reason is empty: say what you checked before signing"
    assert (missing.status_code, missing.json()["exit_code"]) == (422, 2)
    assert (unknown.status_code, unknown.json()["exit_code"]) == (404, 2)

    assert signoff.signatures("refund") == [] and signoff.audit_records() == []
    assert "refund" in unsigned(await signoff.json("gaps"))


# --- the 90-day bar, judged at chosen moments (no server) -------------------------------------------------------

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def signatures(ledger: DrillLedger, tmp_path: Path) -> Iterator[DrillSignatures]:
    opened = DrillSignatures(f"sqlite:///{tmp_path / 'audit.db'}")
    yield opened
    opened.close()


def record_drill(ledger: DrillLedger, action: str, *, finished: datetime) -> DrillResult:
    result = DrillResult(
        drill_id=f"drill-{action}-{finished.timestamp():.0f}",
        action=action,
        charter_version=3,
        started=finished - timedelta(seconds=2),
        finished=finished,
        passed=True,
    )
    assert ledger.record(result=result)
    return result


def sign(signatures: DrillSignatures, ledger: DrillLedger, charter: Charter, action: str, person: str) -> None:
    signatures.sign(charter=charter, ledger=ledger, action=action, person=person, via="test", reason=REASON, now=NOW)


def gap_of(
    charter: Charter, ledger: DrillLedger, signatures: DrillSignatures, action: str, *, at: datetime
) -> str | None:
    report = gap_report(charter, archive=None, ledger=ledger, signatures=signatures, now=at)
    found = {item.action: item.because for item in report.unsigned_drills}
    return found.get(action)


def test_a_signature_counts_while_its_drill_is_within_90_days_and_its_signer_owns_the_undo(
    ledger: DrillLedger, signatures: DrillSignatures, tmp_path: Path
) -> None:
    charter = load_charter(CHARTER)
    drilled = record_drill(ledger, "refund", finished=NOW - timedelta(days=10))
    sign(signatures, ledger, charter, "refund", "farid")

    assert gap_of(charter, ledger, signatures, "refund", at=NOW) is None
    lapsed = NOW - timedelta(days=10) + SIGNATURE_MAX_AGE + timedelta(hours=1)
    assert gap_of(charter, ledger, signatures, "refund", at=lapsed) == (
        "the last pass of refund is older than 90d: run `cxgov drills run refund`, then a member of finance-ops "
        "(farid) signs with `cxgov drills sign refund`"
    )
    report = gap_report(charter, archive=None, ledger=ledger, signatures=signatures, now=lapsed)
    [refund] = [item for item in report.unsigned_drills if item.action == "refund"]
    assert (refund.last_signed_by, refund.last_signed_at, refund.last_pass) == ("farid", NOW, drilled.finished)

    moved = load_charter(write_charter(tmp_path, ("owner: finance-ops ", "owner: support-lead ")))
    assert gap_of(moved, ledger, signatures, "refund", at=NOW) == (
        "farid, who signed last, is no longer an active member of support-lead: a member of support-lead "
        "(ana, ben) signs with `cxgov drills sign refund`"
    )


def test_a_stale_pass_and_a_suspended_member_cannot_sign(
    ledger: DrillLedger, signatures: DrillSignatures, tmp_path: Path
) -> None:
    charter = load_charter(CHARTER)
    record_drill(ledger, "cancel_order", finished=NOW - timedelta(days=100))
    with pytest.raises(Denied, match=r"finished 2026-08-19 12:00 UTC, longer ago than 90d: run `cxgov drills run "):
        sign(signatures, ledger, charter, "cancel_order", "ana")

    record_drill(ledger, "book_appointment", finished=NOW - timedelta(days=1))
    suspended = load_charter(
        write_charter(tmp_path, ("ana:   {roles: [support-lead], ", "ana:   {suspended: true, roles: [support-lead], "))
    )
    with pytest.raises(
        Denied, match=r"^ana is suspended from support-lead, the reversal owner role of book_appointment"
    ):
        sign(signatures, ledger, suspended, "book_appointment", "ana")
    assert signatures.signatures(action="cancel_order") == signatures.signatures(action="book_appointment") == []
