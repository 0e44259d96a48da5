"""The console in a real headless Chromium (the system's `chromium`, driven by Playwright), against the real
HTTP server on loopback, a real worker and a Temporal dev server (a namespace of its own, so the actions list,
the audit sync and the gaps see only this test's workflows).

A support lead signs in with a key, sees the pending approval, approves it with a reason and sees the action
complete; refused attempts show why; the audit CSV downloads; a person without a session is sent to sign in.
Every page is saved as a full-page screenshot in docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from api.apikit import Api, serving
from consolekit import COAT_400, REFUND_40, REFUND_120, Shots, chromium, refund
from harness import own_namespace, start_stack, terminate_running
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import sync_closed
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox

SHOTS = Shots()


@dataclass
class Console:
    api: Api
    home: Path
    profile: Path


@pytest_asyncio.fixture
async def console(dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Console]:
    """The server in front of a drilling worker on a namespace of its own; its drill ledger in the server's database."""
    temporal = await own_namespace(dev_env, prefix="console")
    ledger = DrillLedger(f"sqlite:///{tmp_path / 'audit.db'}")
    built, worker = await start_stack(temporal, sandbox, drills=ledger, drill_workspace=tmp_path / "drills")
    try:
        async with worker, serving(built, tmp_path) as api:
            yield Console(api=api, home=tmp_path, profile=tmp_path / "chromium-profile")
            await terminate_running(built.temporal, built.task_queue)
    finally:
        ledger.close()


async def start(api: Api, who: str, params: dict[str, str], *, customer: str = "C-100") -> str:
    """Start a refund through the API as `who` (an agent's or a person's key); it must wait for a person."""
    async with api.client(who) as caller:
        answer = await caller.post("/v1/actions", json=refund(params, customer=customer))
    assert (answer.status_code, answer.json()["status"]) == (202, "awaiting_approval"), answer.text
    action_id: str = answer.json()["action_id"]
    return action_id


async def sign_in(page: Page, api: Api, who: str) -> None:
    """Sign in through the form, by keyboard: type the key, press Enter."""
    await page.goto(f"{api.url}/login")
    await page.get_by_label("Your key").fill(api.token(who))
    await page.get_by_label("Your key").press("Enter")
    await expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()


async def submit_anyway(page: Page, action: str, **fields: str) -> None:
    """Post a form the page does not offer (as a person could with any HTTP tool), with the session's CSRF token:
    the server, not the page, has to refuse it."""
    csrf = await page.locator('form[action="/logout"] input[name="csrf"]').input_value()
    await page.evaluate(
        """([action, fields]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = action;
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [action, {"csrf": csrf, **fields}],
    )
    await page.wait_for_load_state()


async def test_a_support_lead_approves_in_the_browser_and_reviews_every_page(console: Console) -> None:
    api = console.api
    action_id = await start(api, "support-bot", REFUND_120)
    async with chromium(console.profile) as browser:
        page = await browser.new_page()

        await page.goto(f"{api.url}/")
        await expect(page).to_have_url(f"{api.url}/login")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await SHOTS.take(page, "login")
        await sign_in(page, api, "ben")

        # My approvals: the exact action, amount, customer, requester, reasons, deadline, who else may decide.
        await expect(page).to_have_url(f"{api.url}/")
        card = page.locator("article.card")
        await expect(card).to_have_count(1)
        await expect(card.get_by_role("heading")).to_have_text("refund · 120 USD · C-100")
        facts = card.locator("dl.facts")
        await expect(facts).to_contain_text("JACKET-BLK-L")
        await expect(facts).to_contain_text("support-bot (ai agent), on chat: “arrived torn”")
        await expect(facts).to_contain_text("approve_above")
        await expect(facts).to_contain_text(re.compile(r"UTC \(in 3 h 5\d min\)"))
        await expect(facts).to_contain_text("ana")
        await SHOTS.take(page, "approvals")

        # The action's page, then the approval with a reason, by keyboard.
        await card.get_by_role("link", name="refund · 120 USD · C-100").click()
        await expect(page).to_have_url(f"{api.url}/actions/{action_id}")
        await expect(page.locator("h1 + .badge")).to_have_text(re.compile("awaiting approval"))
        await SHOTS.take(page, "action-awaiting-approval")
        reason = page.get_by_label("Reason for your decision")
        await reason.fill("photo of the tear checked")
        await reason.press("Tab")
        await expect(page.get_by_role("button", name="Approve")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status")).to_have_text("You approved it. The action is completed.")
        await expect(page.locator("h1 + .badge")).to_have_text(re.compile("completed"))
        attempts = page.locator("table[aria-labelledby=approvals-h] tbody tr")
        await expect(attempts).to_have_count(1)
        await expect(attempts.first).to_contain_text("ben")
        await expect(attempts.first).to_contain_text("granted")
        await expect(page.locator("table[aria-labelledby=steps-h]")).to_contain_text("execute")
        await SHOTS.take(page, "action")
        await expect(
            page.get_by_text("You cannot reverse it: ben is not in refund's reversal owner role")
        ).to_be_visible()

        # Actions with filters.
        await page.get_by_role("link", name="Actions").click()
        await page.get_by_label("Customer").fill("C-100")
        await page.get_by_label("Status").select_option("completed")
        await page.get_by_role("button", name="Filter").click()
        rows = page.locator("table tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("support-bot")
        await expect(rows.first).to_contain_text("120 USD")
        await SHOTS.take(page, "actions")

        # Drills: run one now.
        await page.get_by_role("link", name="Drills").click()
        await page.get_by_role("button", name="Run the drill of refund now").click()
        await expect(page.get_by_role("status")).to_have_text("The drill of refund passed.")
        refund_row = page.locator("tbody tr", has=page.get_by_role("rowheader", name="refund"))
        await expect(refund_row).to_contain_text("passed")
        await expect(refund_row).to_contain_text("trusted")
        await SHOTS.take(page, "drills")

        await page.get_by_role("link", name="Gaps").click()
        await expect(page.locator("table[aria-labelledby=recert-h]")).to_contain_text("insights-partner")
        await SHOTS.take(page, "gaps")

        await page.get_by_role("link", name="Questions").click()
        await page.get_by_label("Actor or person").select_option("support-bot")
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_role("heading", name=re.compile("^support-bot"))).to_be_visible()
        await expect(page.locator("article.panel").first).to_contain_text("finance-ops: farid")
        await SHOTS.take(page, "questions")

        # The audit trail, once the closed action is archived, and its CSV download.
        with AuditArchive(f"sqlite:///{console.home / 'audit.db'}") as archive:
            await sync_closed(api.gate.client.client, archive, full=True)
        await page.get_by_role("link", name="Audit").click()
        await page.get_by_label("Actor").fill("support-bot")
        await page.get_by_role("button", name="Search").click()
        record = page.locator("tbody tr", has=page.get_by_role("rowheader", name="action"))
        await expect(record).to_contain_text("ben approve")
        await SHOTS.take(page, "audit")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Download CSV").click()
        download = await downloading.value
        assert download.suggested_filename.startswith("cxgov-audit-") and download.suggested_filename.endswith(".csv")
        table = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
        mine = [row for row in table if row["action_id"] == action_id]
        assert [(row["kind"], row["actor"], row["status"]) for row in mine] == [("action", "support-bot", "completed")]
        assert '"person":"ben"' in mine[0]["approvals"].replace(" ", "") and mine[0]["hash"]
        assert {row["actor"] for row in table} == {"support-bot"}, "the download keeps the page's filter"

        await page.get_by_role("link", name="Charter").click()
        await expect(page.get_by_role("heading", name=re.compile("Charter acme-retail"))).to_be_visible()
        await expect(page.locator("#diagram")).to_be_visible()
        await SHOTS.take(page, "charter")

        # Sign out: the session is gone, and the next page asks to sign in again.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("status")).to_have_text("You are signed out.")
        await page.goto(f"{api.url}/charter")
        await expect(page).to_have_url(f"{api.url}/login?next=%2Fcharter")


async def test_refused_attempts_show_why(console: Console) -> None:
    api = console.api
    # omar (tier1) refunds 400 as a human agent: above tier1's approve_above 300, so a support lead decides;
    # ana (limit 1000) may approve it, ben (limit 300) may only deny it, omar may not decide his own request.
    action_id = await start(api, "omar", COAT_400, customer="C-300")
    async with chromium(console.profile) as browser:
        page = await browser.new_page()
        await sign_in(page, api, "ben")
        await expect(page.locator("article.card")).to_have_count(0)
        await expect(page.locator("table")).to_contain_text("ana")
        await page.goto(f"{api.url}/actions/{action_id}")
        await expect(page.get_by_role("button", name="Deny")).to_be_visible()
        await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        await expect(page.get_by_text("the amount is above your approve_limit 300 USD")).to_be_visible()
        digest = await page.locator('input[name="digest"]').input_value()

        await submit_anyway(page, f"/actions/{action_id}/approve", reason="looks fine to me", digest=digest)
        alert = page.get_by_role("alert")
        await expect(alert).to_have_text(
            "Refused: amount 400 is above ben's approve_limit 300. The attempt is on the action's record."
        )
        refused = page.locator("table[aria-labelledby=approvals-h] tbody tr")
        await expect(refused).to_have_count(1)
        await expect(refused.first).to_contain_text("refused")
        await expect(refused.first).to_contain_text("amount 400 is above ben's approve_limit 300")
        await SHOTS.take(page, "action-refused")

        other = await browser.new_page()
        await browser.clear_cookies()
        await sign_in(other, api, "omar")
        await other.goto(f"{api.url}/actions/{action_id}")
        await expect(other.get_by_role("button", name="Approve")).to_have_count(0)
        await expect(other.get_by_text("you requested this action")).to_be_visible()
        await submit_anyway(other, f"/actions/{action_id}/approve", reason="mine", digest=digest)
        await expect(other.get_by_role("alert")).to_have_text(
            "Refused: omar requested this action; no one approves or denies their own request. "
            "The attempt is on the action's record."
        )
        await expect(other.locator("h1 + .badge")).to_have_text(re.compile("awaiting approval"))

        await browser.clear_cookies()
        await sign_in(other, api, "ana")
        await other.goto(f"{api.url}/actions/{action_id}")
        await other.get_by_label("Reason for your decision").fill("the coat was damaged in transit")
        await other.get_by_role("button", name="Approve").click()
        await expect(other.get_by_role("status")).to_have_text("You approved it. The action is completed.")
        people = other.locator("table[aria-labelledby=approvals-h] tbody th")
        await expect(people).to_have_text(["ben", "omar", "ana"])


async def test_signing_in_wrongly_forged_forms_and_ended_sessions(console: Console) -> None:
    api = console.api
    async with chromium(console.profile) as browser:
        page = await browser.new_page()
        await page.goto(f"{api.url}/drills")
        await expect(page).to_have_url(f"{api.url}/login?next=%2Fdrills")
        await page.get_by_label("Your key").fill("cxgov_k0123456789abcdef_" + "A" * 43)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "That key is not valid: it is unknown, expired or revoked."
        )
        await page.get_by_label("Your key").fill(api.token("support-bot"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("That is the key of the actor support-bot")
        await SHOTS.take(page, "login-refused")

        await page.get_by_label("Your key").fill(api.token("farid"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{api.url}/drills"), "back where the person was going"

        # A form without the session's CSRF token does nothing.
        await page.locator('form[action="/logout"] input[name="csrf"]').evaluate("input => input.remove()")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("alert")).to_contain_text("CSRF token is missing or wrong")
        await page.goto(f"{api.url}/drills")
        await expect(page.get_by_text("Signed in as farid")).to_be_visible()

        # Revoking the key ends the session at the next page.
        await _revoke(api, "farid")
        await page.goto(f"{api.url}/gaps")
        await expect(page).to_have_url(f"{api.url}/login?next=%2Fgaps&why=ended")
        await expect(page.get_by_role("status")).to_contain_text("Your session ended")


async def _revoke(api: Api, who: str) -> None:
    api.keys.revoke(key_id=api.tokens[who].split("_")[1], now=datetime.now(UTC))


async def test_the_reversal_owner_reverses_from_the_action_page(console: Console) -> None:
    api = console.api
    async with api.client("farid") as farid:
        drilled = await farid.post("/v1/drills/refund/run")  # a passing drill: small refunds complete on their own
    assert drilled.json()["passed"] is True, drilled.text
    async with api.client("support-bot") as bot:
        done = (await bot.post("/v1/actions", json=refund(REFUND_40))).json()
    assert done["status"] == "completed", done
    action_id = done["action_id"]
    async with chromium(console.profile) as browser:
        page = await browser.new_page()
        await sign_in(page, api, "ana")
        await page.goto(f"{api.url}/actions/{action_id}")
        await expect(page.get_by_role("button", name="Reverse this action")).to_have_count(0)
        await expect(
            page.get_by_text("You cannot reverse it: ana is not in refund's reversal owner role")
        ).to_be_visible()
        await submit_anyway(page, f"/actions/{action_id}/reverse", reason="customer asked")
        await expect(page.get_by_role("alert")).to_contain_text(
            "Reversal refused: ana is not in refund's reversal owner role finance-ops (who may reverse: farid)"
        )

        await browser.clear_cookies()
        await sign_in(page, api, "farid")
        await page.goto(f"{api.url}/actions/{action_id}")
        await expect(page.get_by_text("The latest reversal request was refused")).to_be_visible()
        await page.get_by_label("Reason for the reversal").fill("customer kept the tee after all")
        await page.get_by_role("button", name="Reverse this action").click()
        await expect(page.get_by_role("status")).to_contain_text("Reversed")
        await expect(page.locator("h1 + .badge")).to_have_text(re.compile("reversed"))
        await expect(page.locator("#reversal-h + .panel")).to_contain_text("by farid")
        await expect(page.locator("#reversal-h + .panel")).to_contain_text("customer kept the tee after all")
        await SHOTS.take(page, "action-reversed")
