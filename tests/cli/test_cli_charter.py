"""`cxgov charter check`: the reference charter loads and its gaps are listed; broken charters name file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import child_env, run_subprocess
from harness import CHARTER, Outcome, Runner, in_process

REFERENCE = CHARTER.read_text()


@pytest.fixture
def cxgov(capsys: pytest.CaptureFixture[str], cli_env: None) -> Runner:
    return in_process(capsys)


def variant(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replaced(old: str, new: str) -> str:
    assert REFERENCE.count(old) == 1, old
    return REFERENCE.replace(old, new)


def with_grants(*grants: str) -> str:
    return REFERENCE.rstrip("\n") + "\n" + "".join(grants)


def gaps_of(outcome: Outcome) -> list[dict[str, str]]:
    assert outcome.code == 0, outcome
    body = outcome.json()
    assert body["loads"] is True
    gaps: list[dict[str, str]] = body["gaps"]
    return gaps


def test_reference_charter_loads_and_lists_its_gaps(cxgov: Runner) -> None:
    outcome = cxgov("charter", "check", str(CHARTER))

    assert outcome.code == 0, outcome
    assert outcome.err == ""
    first, count, *listed = outcome.out.splitlines()
    assert "acme-retail v3 loads" in first
    assert "legal (dana" in first and "finance (farid" in first and "support (ana" in first
    assert count == "2 gap(s):"
    assert any("share_customer_data" in line and "no reversal owner" in line for line in listed), listed
    assert any("insights-partner" in line and "recertification" in line for line in listed), listed


def test_reference_charter_check_json_is_one_object(cxgov: Runner) -> None:
    body = cxgov("charter", "check", str(CHARTER), "--json").json()

    assert body["charter"] == "acme-retail"
    assert body["version"] == 3
    assert body["file"] == str(CHARTER)
    kinds = {(gap["kind"], gap["subject"]) for gap in body["gaps"]}
    assert kinds == {
        ("no-reversal-owner", "action share_customer_data"),
        ("recertification-overdue", "actor insights-partner"),
    }


def test_charter_check_defaults_to_cxgov_charter(
    cxgov: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = variant(tmp_path, "charter.yaml", replaced("version: 3 ", "version: 4 "))
    monkeypatch.setenv("CXGOV_CHARTER", str(path))

    body = cxgov("charter", "check", "--json").json()

    assert body["file"] == str(path)
    assert body["version"] == 4


def test_ladder_role_with_no_people_is_a_gap(cxgov: Runner, tmp_path: Path) -> None:
    # dana was the only member of legal, the first step of share_customer_data's ladder.
    path = variant(tmp_path, "no-legal.yaml", replaced("dana:  {roles: [legal]}", "dana:  {roles: [tier1]}"))

    gaps = gaps_of(cxgov("charter", "check", str(path), "--json"))

    found = [gap for gap in gaps if gap["kind"] == "ladder-role-without-people"]
    assert [gap["subject"] for gap in found] == ["role legal"]
    assert "share_customer_data" in found[0]["detail"]


def test_irreversible_action_an_ai_agent_may_take_without_approval_is_a_gap(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(
        tmp_path, "bot-shares.yaml", with_grants("  - actor: support-bot\n    action: share_customer_data\n")
    )

    gaps = gaps_of(cxgov("charter", "check", str(path), "--json"))

    found = [gap for gap in gaps if gap["kind"] == "irreversible-without-approval"]
    assert [gap["subject"] for gap in found] == ["actor support-bot"]
    assert "ai_agent" in found[0]["detail"] and "share_customer_data" in found[0]["detail"]


def test_grants_naming_unknown_actor_role_or_action_are_gaps(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "unknown-names.yaml",
        with_grants(
            "  - actor: ghost-bot\n    action: refund\n",
            "  - role: night-shift\n    action: refund\n",
            "  - actor: support-bot\n    action: teleport\n",
        ),
    )

    gaps = gaps_of(cxgov("charter", "check", str(path), "--json"))

    details = [gap["detail"] for gap in gaps if gap["kind"] == "unknown-name"]
    assert any("unknown actor 'ghost-bot'" in detail for detail in details), details
    assert any("unknown role 'night-shift'" in detail for detail in details), details
    assert any("unknown action 'teleport'" in detail for detail in details), details


def test_two_grants_covering_the_same_actor_and_action_are_a_gap(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "overlap.yaml",
        with_grants("  - actor: support-bot\n    action: book_appointment\n    channels: [phone]\n"),
    )

    outcome = cxgov("charter", "check", str(path))

    assert outcome.code == 0, outcome
    assert "[overlapping-grants] support-bot / book_appointment" in outcome.out


def test_charter_with_a_yaml_syntax_error_names_file_and_line(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(tmp_path, "broken.yaml", replaced("currency: USD", "currency: [USD"))

    outcome = cxgov("charter", "check", str(path))

    assert outcome.code == 2
    line = outcome.one_error_line()
    # The unclosed flow sequence opened on line 10 is detected at the next key, line 11.
    assert line.startswith(f"cxgov: {path}:11: YAML syntax error"), line


def test_unsigned_charter_does_not_load_and_names_file_line_and_key(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(tmp_path, "unsigned.yaml", replaced("  - {function: finance, by: farid, on: 2026-11-21}\n", ""))

    outcome = cxgov("charter", "check", str(path))

    assert outcome.code == 2
    line = outcome.one_error_line()
    assert f"{path}:17: required_signoffs[1]:" in line, line
    assert "finance" in line and "sign-off" in line


def test_unsigned_charter_json_is_one_error_object(cxgov: Runner, tmp_path: Path) -> None:
    path = variant(tmp_path, "unsigned.yaml", replaced("  - {function: finance, by: farid, on: 2026-11-21}\n", ""))

    outcome = cxgov("charter", "check", str(path), "--json")

    assert outcome.code == 2
    assert outcome.err == ""
    body = outcome.json()
    assert body["exit_code"] == 2
    assert f"{path}:17: required_signoffs[1]:" in body["error"]


def test_missing_charter_file_is_bad_input(cxgov: Runner, tmp_path: Path) -> None:
    outcome = cxgov("charter", "check", str(tmp_path / "nowhere.yaml"))

    assert outcome.code == 2
    assert outcome.one_error_line() == f"cxgov: {tmp_path / 'nowhere.yaml'}: file not found"


def test_charter_check_as_a_real_process(tmp_path: Path, cli_env: None) -> None:
    env = child_env({"CXGOV_HOME": str(tmp_path)})
    good = run_subprocess("charter", "check", str(CHARTER), "--json", env=env)
    broken = run_subprocess(
        "charter", "check", str(variant(tmp_path, "b.yaml", replaced("currency: USD", "currency: [USD"))), env=env
    )

    assert good.code == 0 and good.err == ""
    assert len(good.json()["gaps"]) == 2
    assert broken.code == 2
    assert "YAML syntax error" in broken.one_error_line()
