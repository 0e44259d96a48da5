"""`cxgov reverse` and `cxgov audit` through the CLI: exit codes, one-line errors, streamed exports."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clikit import ALLOWED_REFUND, UNREACHABLE, CliStack
from harness import Runner, in_process

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase


def test_reverse_by_the_owner_role_then_again(cli_stack: CliStack) -> None:
    acted = cli_stack.run(*ALLOWED_REFUND)
    assert acted.code == 0, acted
    action_id = acted.json()["action_id"]

    refused = cli_stack.run("reverse", action_id, "--as", "ana", "--reason", "not hers to undo")
    assert refused.code == 3
    assert "reversal owner role finance-ops" in refused.one_error_line()

    done = cli_stack.run("reverse", action_id, "--as", "farid", "--reason", "customer kept it", "--json")
    assert done.code == 0, done
    body = done.json()
    assert (body["status"], body["by"], body["reversal_id"]) == ("reversed", "farid", f"reverse-{action_id}")

    again = cli_stack.run("reverse", action_id, "--as", "farid", "--reason", "twice?", "--json")
    assert again.code == 0 and again.json()["by"] == "farid"  # the first reversal's result, not a second undo
    shown = cli_stack.run("reverse", action_id, "--as", "farid", "--reason", "and as text?")
    assert shown.out == f"{action_id} reversed by farid: the system of record is back to its pre-action state\n"
    status = cli_stack.run("status", action_id)
    assert status.json()["status"] == "reversed" and status.json()["reversal"] == f"reverse-{action_id}"


def test_reverse_after_payout_shows_the_procedure(cli_stack: CliStack) -> None:
    action_id = cli_stack.run(*ALLOWED_REFUND).json()["action_id"]
    assert cli_stack.run("sandbox", "payout", "O-1001").code == 0
    refused = cli_stack.run("reverse", action_id, "--as", "farid", "--reason", "too late")
    assert refused.code == 3
    assert "Claw the refund back before the payout runs" in refused.one_error_line()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("reverse", "refund-1", "--as", "farid", "--reason", "r"), "must start with 'action-'"),
        (("reverse", "action-1", "--as", "farid", "--reason", ""), "reason is empty"),
        (("audit", "--since", "two weeks"), "--since 'two weeks'"),
        (("audit", "--format", "xml"), "--format 'xml'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli_stack: CliStack, args: tuple[str, ...], words: str) -> None:
    outcome = cli_stack.run(*args)
    assert outcome.code == 2, outcome
    assert words in outcome.one_error_line()


@pytest.fixture
def archived_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_env: None) -> Path:
    """CXGOV_HOME with an audit archive of 30 records: 20 of support-bot (two of them 200 days old)."""
    monkeypatch.setenv("CXGOV_HOME", str(tmp_path))
    monkeypatch.setenv("CXGOV_TEMPORAL_ADDRESS", UNREACHABLE)
    now = datetime.now(UTC)
    archive = AuditArchive(f"sqlite:///{tmp_path / 'audit.db'}")
    records = [
        AuditRecordBase(
            kind="action",
            time=now - timedelta(days=200 if n < 2 else 1, minutes=30 - n),
            source=f"run-{n}",
            action_id=f"action-{n}",
            actor="support-bot" if n < 20 else "omar",
            customer="C-100",
            action="refund",
            params=json.dumps({"amount": str(n)}),
            channel="chat",
            reason=f"reason {n}",
            outcome="allow",
            rule="6-allow",
            status="completed",
            charter_version=3,
        )
        for n in range(30)
    ]
    archive.append_records(records=records)
    archive.close()
    return tmp_path


def test_audit_query_streams_json_lines_and_csv(archived_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run: Runner = in_process(capsys)
    lines = run("audit", "--actor", "support-bot", "--since", "180d")
    assert lines.code == 0, lines
    rows = [json.loads(line) for line in lines.out.splitlines()]
    assert len(rows) == 18 and {row["actor"] for row in rows} == {"support-bot"}
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)

    exported = run("audit", "--actor", "support-bot", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(exported.out)))
    assert len(table) == 20 and table[0]["action"] == "refund" and table[0]["charter_version"] == "3"
    assert run("audit", "--customer", "C-999").out == ""


def test_audit_verify_passes_then_catches_an_edit(archived_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run: Runner = in_process(capsys)
    intact = run("audit", "verify", "--json")
    assert intact.code == 0
    body = intact.json()
    head = body.pop("head")
    assert body == {"ok": True, "checked": 30, "problem": None, "seq": None, "anchors_checked": 0, "anchors_purged": []}
    assert head.startswith("30:") and len(head) == 3 + 64
    anchored = run("audit", "verify", "--anchor", head)
    assert anchored.code == 0, anchored
    assert anchored.out.splitlines() == [
        "chain intact: 30 record(s) verified",
        f"head: {head}  (keep it outside the database; check it later with --anchor)",
        "anchors matched: 1",
    ]
    with sqlite3.connect(archived_home / "audit.db") as db:
        db.execute("UPDATE audit_record SET reason = 'edited afterwards' WHERE seq = 7")
    broken = run("audit", "verify")
    assert broken.code == 1
    assert "CHAIN BROKEN" in broken.out and "record 7" in broken.out


@pytest.mark.parametrize(
    ("anchors", "problem"),
    [
        (("30",), "an anchor is SEQ:HASH as `cxgov audit verify` prints it as head, got '30'"),
        (("30:beef",), "the hash of anchor '30:beef' is not 64 hexadecimal digits"),
        (("3:" + "a" * 64, "3:" + "b" * 64), "two anchors name record 3 with different hashes"),
    ],
)
def test_audit_verify_refuses_a_malformed_anchor(
    archived_home: Path, capsys: pytest.CaptureFixture[str], anchors: tuple[str, ...], problem: str
) -> None:
    args = [arg for anchor in anchors for arg in ("--anchor", anchor)]
    outcome = in_process(capsys)("audit", "verify", *args)
    assert outcome.code == 2
    assert outcome.one_error_line() == f"cxgov: {problem}"


def test_audit_retention_works_without_temporal(archived_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run: Runner = in_process(capsys)
    shown = run("audit", "retention", "--json")
    assert shown.code == 0, shown
    body = shown.json()
    assert (body["retention_days"], body["records"], body["past_retention"]) == (2555, 30, 0)
    assert body["lag_seconds"] is None and body["next_purge"] is None


def test_audit_sync_without_temporal_is_one_line(archived_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = in_process(capsys)("audit", "sync")
    assert outcome.code == 1
    assert "cannot reach Temporal" in outcome.one_error_line()


@pytest.mark.parametrize("args", [("audit", "verify"), ("audit", "--actor", "x"), ("drills", "list")])
def test_an_unreachable_database_is_one_line_without_the_password(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    monkeypatch.setenv("CXGOV_DATABASE_URL", "postgresql://cxgov:s3cret@127.0.0.1:1/nowhere")
    monkeypatch.setenv("CXGOV_TEMPORAL_ADDRESS", UNREACHABLE)
    outcome = in_process(capsys)(*args)
    assert outcome.code == 1
    line = outcome.one_error_line()
    assert "the database cannot be used" in line and "s3cret" not in line
