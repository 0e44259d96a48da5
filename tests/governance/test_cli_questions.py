"""`cxgov questions` and `cxgov gaps` through the CLI: one screen per actor, every line backed by the charter,
the drill ledger or the archive; JSON with the same facts; no Temporal needed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from govkit import Archived, drill
from harness import CHARTER, Runner

from cxgov.audit.store import AuditArchive
from cxgov.charter import load_charter
from cxgov.drills.ledger import DrillLedger
from cxgov.drills.signatures import DrillSignatures

NO_SUCH_ACTION = "unknown action 'close_account': charter acme-retail declares no such action"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def blocks(text: str) -> dict[str, list[str]]:
    """The text output split into one block per actor, keyed by the actor's name."""
    found: dict[str, list[str]] = {}
    for block in text.strip("\n").split("\n\n"):
        lines = block.splitlines()
        found[lines[0].split()[0]] = lines
    return found


@pytest.fixture
def world(archived: Archived, ledger: DrillLedger, db_url: str) -> dict[str, datetime]:
    """A support-bot with history: refunds (one with a refused approval), a cancel, two gap requests, and drills
    that passed (refund's signed by farid, of its reversal owner role), failed, went stale, and never ran.
    Returns the drill times and the gap requests' times."""
    now = datetime.now(UTC)
    for hours in (1, 2, 3):
        archived.action(action="refund", at=now - timedelta(hours=hours), refused_by=["omar"] if hours == 1 else None)
    archived.action(action="cancel_order", at=now - timedelta(hours=4))
    gap_first, gap_last = now - timedelta(days=1), now - timedelta(hours=5)
    archived.action(action="close_account", gap=True, at=gap_first, decision=NO_SUCH_ACTION)
    archived.action(action="close_account", gap=True, at=gap_last, reason="close it", decision=NO_SUCH_ACTION)
    times = {
        "refund": now - timedelta(days=2),
        "change_address pass": now - timedelta(days=3),
        "change_address fail": now - timedelta(hours=1),
        "cancel_order": now - timedelta(days=100),
    }
    drill(ledger, "refund", finished=times["refund"])
    drill(ledger, "change_address", finished=times["change_address pass"])
    drill(
        ledger,
        "change_address",
        finished=times["change_address fail"],
        passed=False,
        step="verify",
        reason="the address was not restored",
    )
    drill(ledger, "cancel_order", finished=times["cancel_order"])
    signatures = DrillSignatures(db_url)
    try:
        signatures.sign(
            charter=load_charter(CHARTER),
            ledger=ledger,
            action="refund",
            person="farid",
            via="test setup",
            reason="watched the clawback",
            now=now,
        )
    finally:
        signatures.close()
    return {**times, "gap first": gap_first, "gap last": gap_last}


def test_support_bot_block_says_exactly_what_charter_ledger_and_archive_say(
    cxgov: Runner, world: dict[str, datetime], archive: AuditArchive, home: Path
) -> None:
    outcome = cxgov("questions")

    assert outcome.code == 0 and outcome.err == "", outcome
    bot = blocks(outcome.out)["support-bot"]
    t = {name: _when(moment) for name, moment in world.items() if not name.startswith("gap ")}
    assert bot == [
        "support-bot  ai_agent, owner ana, recertify by 2099-03-01: may take 4 actions",
        "  charter acme-retail v3, signed off by legal dana 2026-11-20, finance farid 2026-11-21, support ana 2026-11-21",
        "  trail   Temporal history, namespace default at 127.0.0.1:1; UI http://127.0.0.1:1001",
        f"  archive sqlite:///{home}/audit.db, kept 2555 days",
        "  refund: Refund an order line to the original payment method",
        "    scope   grant to actor support-bot: channels chat, email; segments standard, gold; never SKUs FINAL-*, GIFT-*",
        "    amount  up to 50 USD on its own; over 50 up to 200 with approval; over 200 denied",
        "    budget  300 requests and 5000 USD per rolling 1d",
        "    ladder  support-lead (ana up to 1000, ben up to 300) -> duty-manager covering (carla up to 5000); "
        "4h a step, then deny",
        "    undo    until payout (as the system of record reports it), by finance-ops (farid): "
        "Claw the refund back before the payout runs",
        f"    drill   every 30d (drill-refund); last run {t['refund']} passed; last pass {t['refund']}; "
        f"tested {t['refund'][:10]}, signed by farid",
        '    audit   3 requests archived; UI search: CxActor = "support-bot" AND CxAction = "refund"',
        "    pull    cxgov audit --actor support-bot --action refund --since 2555d --format csv",
        "  change_address: Change the shipping address of an order that has not been dispatched",
        "    scope   grant to actor support-bot, on its own: channels chat, email; segments any",
        "    checks  not_dispatched (checked in the system of record when deciding, and again with the effect)",
        "    ladder  support-lead (ana, ben) -> duty-manager covering (carla); 1h a step, then deny",
        "    undo    until dispatch (as the system of record reports it), by support-lead (ana, ben): "
        "Restore the previous address",
        f"    drill   every 30d (drill-change_address); last run {t['change_address fail']} failed at verify; "
        f"last pass {t['change_address pass']}; not signed by a named human",
        "            OVERDUE: the last drill failed at verify (the address was not restored); "
        "every request needs a person's approval until a drill passes",
        '    audit   0 requests archived; UI search: CxActor = "support-bot" AND CxAction = "change_address"',
        "    pull    cxgov audit --actor support-bot --action change_address --since 2555d --format csv",
        "  cancel_order: Cancel an order placed in the last 24 hours",
        "    scope   grant to actor support-bot, on its own: channels chat, email; segments any",
        "    checks  placed_within_24h (checked in the system of record when deciding, and again with the effect)",
        "    ladder  support-lead (ana, ben) -> duty-manager covering (carla); 1h a step, then deny",
        "    undo    within 1d of completing, by support-lead (ana, ben): Reinstate the order",
        f"    drill   every 30d (drill-cancel_order); last run {t['cancel_order']} passed; last pass {t['cancel_order']}; "
        "not signed by a named human",
        "            OVERDUE: last passed longer ago than drills.max_age (90d); "
        "every request needs a person's approval until a drill passes",
        '    audit   1 request archived; UI search: CxActor = "support-bot" AND CxAction = "cancel_order"',
        "    pull    cxgov audit --actor support-bot --action cancel_order --since 2555d --format csv",
        "  book_appointment: Book a clinic appointment",
        "    scope   grant to actor support-bot, on its own: channels any; segments any",
        "    checks  capacity (checked in the system of record when deciding, and again with the effect)",
        "    ladder  none: what needs approval is denied (the action has no approval ladder)",
        "    undo    any time, by support-lead (ana, ben): Cancel the booking",
        "    drill   every 30d (drill-book_appointment); never run; last pass never; not signed by a named human",
        "            OVERDUE: never drilled; every request is denied until a drill passes (no approval ladder)",
        '    audit   0 requests archived; UI search: CxActor = "support-bot" AND CxAction = "book_appointment"',
        "    pull    cxgov audit --actor support-bot --action book_appointment --since 2555d --format csv",
    ]
    # Every number shown is in the charter, is a count the archive gives, or is a drill time in the ledger.
    charter_numbers = set(re.findall(r"\d+", CHARTER.read_text()))
    counted = {str(archive.count(actor="support-bot", action=a)) for a in ("refund", "change_address", "cancel_order")}
    drilled = {number for moment in t.values() for number in re.findall(r"\d+", moment)}
    address = {"127", "0", "1", "1001"}
    for line in bot:
        shown = line.replace(f"sqlite:///{home}/audit.db", "")
        unbacked = set(re.findall(r"\d+", shown)) - charter_numbers - counted - drilled - address
        assert not unbacked, f"{line!r} shows {unbacked}, found in neither the charter, the archive nor the ledger"


def test_every_actor_fits_one_screen_and_people_without_grants_may_take_no_action(
    cxgov: Runner, world: dict[str, datetime]
) -> None:
    shown = blocks(cxgov("questions").out)

    assert list(shown) == [
        "support-bot",
        "returns-sync",
        "insights-partner",
        "ana",
        "ben",
        "carla",
        "farid",
        "dana",
        "omar",
        "priya",
    ]
    assert all(len(lines) <= 40 for lines in shown.values()), {name: len(lines) for name, lines in shown.items()}
    assert shown["ana"] == [
        "ana  person, roles support-lead: may take no action (deny by default: no grant covers ana or role support-lead)"
    ]
    partner = shown["insights-partner"]
    assert "  DENIED  every request: recertification overdue since 2026-06-01 (owner ana)" in partner
    assert (
        "    undo    cannot be undone (not drilled); procedure: Ask the recipient to delete the data and notify the "
        "customer; owner: none (charter gap)"
    ) in partner
    assert "    ladder  legal (dana) -> duty-manager (carla); 1d a step, then deny" in partner
    omar = shown["omar"]
    assert "    scope   grant to role tier1: channels any; segments any; never SKUs FINAL-*, GIFT-*" in omar
    assert "    amount  up to 300 USD on its own; over 300 up to 1000 with approval; over 1000 denied" in omar
    assert any("0 requests archived, and 1 refused attempt(s) or reversal(s)" in line for line in omar)


def test_questions_json_is_one_object_with_the_same_facts(cxgov: Runner, world: dict[str, datetime]) -> None:
    body = cxgov("questions", "--actor", "support-bot", "--json").json()

    assert (body["charter"], body["version"], body["retention_days"]) == ("acme-retail", 3, 2555)
    assert [s["by"] for s in body["signoffs"]] == ["dana", "farid", "ana"]
    (bot,) = body["actors"]
    refund = bot["actions"][0]
    assert refund["action"] == "refund"
    assert (refund["scope"]["max_amount"], refund["scope"]["approve_above"]) == ("200", "50")
    assert refund["reversibility"]["owner_people"] == ["farid"]
    assert refund["reversibility"]["drill"]["last_result"] == "passed"
    signed = refund["reversibility"]["drill"]
    assert (signed["signed_by"], signed["signoff"]) == ("farid", f"tested {signed['last_pass'][:10]}, signed by farid")
    assert signed["signed_drill_finished"] == signed["last_pass"] and signed["signed_at"] is not None
    assert (refund["auditability"]["records"], refund["auditability"]["requests"]) == (3, 3)
    assert (
        refund["auditability"]["pull"] == "cxgov audit --actor support-bot --action refund --since 2555d --format csv"
    )
    book = bot["actions"][3]
    assert book["reversibility"]["drill"]["overdue"] is True and book["reversibility"]["drill"]["last_run"] is None


def test_without_an_archive_questions_answer_and_create_nothing(cxgov: Runner, home: Path) -> None:
    outcome = cxgov("questions", "--actor", "support-bot")

    assert outcome.code == 0, outcome
    assert '    audit   no records yet; UI search: CxActor = "support-bot" AND CxAction = "refund"' in outcome.out
    assert "            OVERDUE: never drilled; every request needs a person's approval until a drill passes" in (
        outcome.out
    )
    assert not (home / "audit.db").exists()


def test_an_unknown_actor_is_one_line_and_exit_2(cxgov: Runner) -> None:
    outcome = cxgov("questions", "--actor", "nobody")

    assert outcome.code == 2 and outcome.out == ""
    assert outcome.err.startswith("cxgov: unknown actor 'nobody'") and len(outcome.err.splitlines()) == 1


def test_questions_read_the_charter_named_by_cxgov_charter(
    cxgov: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = CHARTER.read_text().replace("recertify_by: 2026-06-01}", "recertify_by: 2027-06-01}")
    text = text.replace("version: 3 ", "version: 4 ")
    path = tmp_path / "charter.yaml"
    path.write_text(text)
    monkeypatch.setenv("CXGOV_CHARTER", str(path))

    body = cxgov("questions", "--actor", "insights-partner", "--json").json()

    assert body["version"] == 4
    assert body["actors"][0]["denied"] is None


def test_gaps_lists_every_kind_of_gap_and_exits_0(cxgov: Runner, world: dict[str, datetime]) -> None:
    outcome = cxgov("gaps")

    assert outcome.code == 0 and outcome.err == "", outcome
    lines = outcome.out.splitlines()
    assert lines[0].endswith(": 9 finding(s)")
    assert "requests no rule covered: 2 requests in 1 group" in lines
    first, last = (world[name].strftime("%Y-%m-%d %H:%M:%S UTC") for name in ("gap first", "gap last"))
    assert f"  support-bot / close_account: 2 requests, first {first}, last {last}" in lines
    assert any(line.startswith("    e.g. action-") and NO_SUCH_ACTION in line for line in lines)
    assert "charter gaps: 1" in lines
    assert "drills overdue or failing: 3" in lines
    assert "    failed: the address was not restored" in lines
    assert "drills not signed by a named human within 90d: 3" in lines
    assert any(line.startswith("  book_appointment: no drill of book_appointment has passed, so ") for line in lines)
    assert "recertification overdue: 1" in lines
    assert any(line.startswith("  insights-partner (integration, owner ana): due 2026-06-01") for line in lines)
    told = lines.index("nobody was told: none")
    assert lines[told + 1].startswith("  notifications are off (no CXGOV_NOTIFY): approvers learn of pending approvals")
    assert lines[-1] == "note: archive lag not checked: Temporal is not reachable at 127.0.0.1:1"

    body = cxgov("gaps", "--json").json()
    assert [(g["actor"], g["action"], g["count"], g["example_reason"]) for g in body["requests"]] == [
        ("support-bot", "close_account", 2, "close it")
    ]
    assert [g["kind"] for g in body["charter_gaps"]] == ["no-reversal-owner"]
    assert [d["action"] for d in body["drills"]] == ["change_address", "cancel_order", "book_appointment"]
    assert [r["actor"] for r in body["recertification"]] == ["insights-partner"]
    assert [u["action"] for u in body["unsigned_drills"]] == ["change_address", "cancel_order", "book_appointment"]
    assert body["archive_lag"] is None and body["findings"] == 9


def test_gaps_without_an_archive(cxgov: Runner, home: Path) -> None:
    outcome = cxgov("gaps")

    assert outcome.code == 0, outcome
    assert "requests no rule covered: none" in outcome.out.splitlines()
    assert "note: no audit archive yet: no requests recorded" in outcome.out.splitlines()
    assert not (home / "audit.db").exists()


@pytest.mark.parametrize("command", ["questions", "gaps"])
def test_an_archive_that_cannot_be_opened_is_one_line_without_its_password(
    cxgov: Runner, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("CXGOV_DATABASE_URL", "postgresql://audit:s3cret@127.0.0.1:1/audit")

    outcome = cxgov(command)

    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err == (
        "cxgov: the audit archive at postgresql://audit:***@127.0.0.1:1/audit cannot be opened (OperationalError)\n"
    )
