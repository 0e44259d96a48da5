"""The review and the diagram against the running system: real actions, approvals, a compensation and reversal
drills on the dev server (a namespace of the test's own), archived by the real archiver; `cxgov review` as a
real process; `GET /v1/diagram` and the console's charter page over real HTTP; both pictures screenshotted by the
system Chromium into docs/screenshots/ (referenced from the README)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from api.apikit import serving
from cli.clikit import child_env, run_subprocess
from console.consolekit import SCREENSHOTS, chromium
from governance.govkit import drill
from harness import CHARTER, own_namespace, start_stack, terminate_running
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import archive_lag, sync_closed
from cxgov.charter import load_charter
from cxgov.client import CxgovClient
from cxgov.drills.ledger import DrillLedger
from cxgov.review import current_quarter, gather_review
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, DrillInput, DrillResult, Status
from workflows.drill import DrillWorkflow

REFUND_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
REFUND_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
REFUND_130 = {"order_id": "O-1002", "sku": "BOOTS-BRN-42", "amount": "130"}
FINAL = {"order_id": "O-1001", "sku": "FINAL-SOCKS-3P", "amount": "12"}
BOOKING = {"clinic": "north", "slot": "2026-12-01T09:00"}


async def act(client: CxgovClient, action: str, params: dict[str, Any], *, customer: str = "C-100") -> ActionState:
    request = client.request(
        actor="support-bot", action=action, customer=customer, channel="chat", reason="asked", params=params
    )
    return await client.act(request, wait=20)


async def test_the_review_counts_what_really_ran(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path
) -> None:
    temporal = await own_namespace(dev_env, prefix="review")
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'audit.db'}"
    archive, ledger = AuditArchive(url), DrillLedger(url)
    built, worker = await start_stack(
        temporal, sandbox, archive=archive, drills=ledger, drill_workspace=tmp_path / "drills"
    )
    client = built.client
    try:
        async with worker:
            for action in ("refund", "book_appointment"):
                drilled: DrillResult = await built.temporal.execute_workflow(
                    DrillWorkflow.run,
                    DrillInput(action=action),
                    id=f"drill-{action}-{uuid.uuid4().hex[:8]}",
                    task_queue=built.task_queue,
                )
                assert drilled.passed, drilled
            assert (await act(client, "refund", REFUND_40)).status == Status.COMPLETED
            approved = await act(client, "refund", REFUND_120)
            assert approved.status == Status.AWAITING_APPROVAL
            assert not (await client.decide(approved.action_id, verdict="approve", person="omar", reason="me")).accepted
            assert (await client.decide(approved.action_id, verdict="approve", person="ana", reason="ok")).accepted
            assert (await client.wait_settled(approved.action_id, wait=20)).status == Status.COMPLETED
            denied = await act(client, "refund", REFUND_130, customer="C-200")
            assert denied.status == Status.AWAITING_APPROVAL, denied
            assert (await client.decide(denied.action_id, verdict="deny", person="ben", reason="worn")).accepted
            assert (await client.wait_settled(denied.action_id, wait=20)).status == Status.DENIED
            assert (await act(client, "refund", FINAL)).status == Status.DENIED
            gap = await act(client, "close_account", {})
            assert gap.decision is not None and gap.decision.gap
            sandbox.add_fault(action="book_appointment", step="verify")
            assert (await act(client, "book_appointment", BOOKING)).status == Status.COMPENSATED

            closed = 8  # two drills and six actions
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while (await archive_lag(built.temporal, archive, now=datetime.now(UTC)))[1] < closed:
                assert loop.time() < deadline, "visibility never listed the closed runs"
                await asyncio.sleep(0.05)
            report = await sync_closed(built.temporal, archive)
            assert (report.archived, report.failed) == (closed, [])
            await terminate_running(built.temporal, built.task_queue)
    finally:
        now = datetime.now(UTC)
        quarter = current_quarter(now)
        review = gather_review(
            charter=load_charter(CHARTER), quarter=quarter, archive=archive, ledger=ledger, audit_url=url, now=now
        )
        ledger.close()
        archive.close()

    assert review.outcomes == {"support-bot": Counter(completed=2, denied=3, compensated=1)}
    assert [(seen.version, seen.decisions) for seen in review.versions] == [(3, 6)]
    decided = sorted((d.person, d.verdict, d.accepted) for d in review.decided)
    assert decided == [("ana", "approve", True), ("ben", "deny", True), ("omar", "approve", False)]
    timed = [d.minutes_after_request for d in review.decided if d.accepted]
    assert all(minutes is not None and 0 < minutes < 5 for minutes in timed), timed  # from the real histories
    assert [found.kind for found in review.breaks] == ["compensated"]
    assert review.drills_run == 2
    assert [(g.actor, g.action, g.requests, g.opened_in_quarter, g.still_open) for g in review.gaps] == [
        ("support-bot", "close_account", 1, True, True)
    ]

    env = child_env({"CXGOV_HOME": str(home), "CXGOV_CHARTER": str(CHARTER)})
    out = tmp_path / "review.html"
    done = await asyncio.to_thread(run_subprocess, "review", "--quarter", quarter.label, "-o", str(out), env=env)
    assert done.code == 0, done.err
    assert f"review of {quarter.label}, 6 action(s), 1 break(s), 1 gap group(s)" in done.out
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        offsite: list[str] = []
        page.on("request", lambda request: offsite.append(request.url) if not request.url.startswith("file:") else None)
        await page.goto(out.as_uri())
        await expect(page.get_by_role("heading", name=f"Governance review {quarter.label}")).to_be_visible()
        await expect(page.get_by_role("img", name="Actions by actor and outcome")).to_be_visible()
        assert offsite == []  # self-contained: the page asked for nothing
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "review.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000


async def test_the_diagram_over_the_api_and_on_the_console_charter_page(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path
) -> None:
    built, worker = await start_stack(dev_env.client, sandbox)
    ledger = DrillLedger(f"sqlite:///{tmp_path / 'audit.db'}")  # the server's database: one action per drill state
    now = datetime.now(UTC)
    drill(ledger, "refund", finished=now - timedelta(days=2))
    drill(ledger, "change_address", finished=now - timedelta(days=1), passed=False, step="verify", reason="differs")
    drill(ledger, "cancel_order", finished=now - timedelta(days=120))
    ledger.close()
    async with worker, serving(built, tmp_path) as api:
        async with api.client("ana") as person:
            svg = await person.get("/v1/diagram")
            mermaid = await person.get("/v1/diagram", params={"format": "mermaid"})
            bad = await person.get("/v1/diagram", params={"format": "png"})
        async with api.client("support-bot") as agent:
            refused = await agent.get("/v1/diagram")
        async with api.client() as nobody:
            anonymous = await nobody.get("/v1/diagram")
        assert (svg.status_code, svg.headers["content-type"]) == (200, "image/svg+xml"), svg.text
        assert "<svg" in svg.text and "insights&#45;partner" in svg.text
        assert mermaid.status_code == 200 and mermaid.text.startswith("flowchart LR")
        for state in ("drill: passed", "drill: FAILING since", "drill: OVERDUE, last pass", "drill: NEVER drilled"):
            assert state in mermaid.text, state
        assert bad.status_code == 422
        assert refused.status_code == 403 and "for people" in refused.json()["error"]
        assert anonymous.status_code == 401

        async with chromium(tmp_path / "profile") as browser:
            page = await browser.new_page()
            await page.goto(f"{api.url}/login?next=/charter")
            await page.get_by_label("Your key").fill(api.token("ana"))
            await page.get_by_label("Your key").press("Enter")
            diagram = page.get_by_role("img", name="One-page governance diagram")
            await expect(diagram).to_be_visible()
            await expect(page.locator("#diagram")).to_contain_text("support-bot")
            await expect(page.locator("#diagram")).to_contain_text("RECERTIFICATION OVERDUE")
            assert await page.locator("#diagram script").count() == 0
            box = await diagram.bounding_box()
            assert box is not None and box["width"] > 1000  # the page's width: the whole picture at once
            # The README's picture: the API's SVG at its own size, where every label is legible.
            await page.set_viewport_size({"width": 2100, "height": 1000})
            await page.set_content(f"<!doctype html><body style='margin:0;background:#fff'>{svg.text}</body>")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOTS / "diagram.png"
            await page.locator("svg").screenshot(path=str(shot))
            assert shot.stat().st_size > 50_000
        await terminate_running(built.temporal, built.task_queue)
