"""Bad input: one clear line (or one JSON object), exit 2, no traceback, no workflow started, sandbox unchanged."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from clikit import UNREACHABLE, CliStack, child_env, refund, run_subprocess, unique_action_id
from harness import in_process

BASE = ("act", "refund", "--actor", "support-bot", "--customer", "C-100", "--channel", "chat")
GOOD_PARAMS = ("-p", "order_id=O-1001", "-p", "sku=TEE-RED-M")

# name -> (arguments after BASE, words the error must contain)
BAD_ACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "missing params": (("--reason", "damaged"), ("refund needs param 'order_id'",)),
    "missing one param": (("--reason", "damaged", *GOOD_PARAMS), ("refund needs param 'amount'",)),
    "extra param": (
        ("--reason", "damaged", *GOOD_PARAMS, "-p", "amount=5", "-p", "colour=red"),
        ("refund takes no param 'colour'",),
    ),
    "mistyped amount": (
        ("--reason", "damaged", *GOOD_PARAMS, "--param", "amount=forty"),
        ("param 'amount' must be an amount of money", "forty"),
    ),
    "negative amount": (("--reason", "damaged", *GOOD_PARAMS, "-p", "amount=-5"), ("'amount' must not be negative",)),
    "param without =": (("--reason", "damaged", "--param", "order_id"), ("--param 'order_id' is not name=value",)),
    "param given twice": (
        ("--reason", "damaged", *GOOD_PARAMS, "-p", "amount=5", "-p", "amount=6"),
        ("--param amount is given twice",),
    ),
    "100 KB reason": (("--reason", "x" * 100_000, *GOOD_PARAMS, "-p", "amount=5"), ("reason is 100000 characters",)),
    "empty reason": (("--reason", "", *GOOD_PARAMS, "-p", "amount=5"), ("reason is empty",)),
    "blank reason": (("--reason", "   ", *GOOD_PARAMS, "-p", "amount=5"), ("reason is empty",)),
}


def assert_nothing_started(cli_stack: CliStack, action_id: str, before: dict[str, object]) -> None:
    assert not cli_stack.exists(action_id), f"bad input started workflow {action_id}"
    time.sleep(0.1)  # visibility lags by ~50 ms
    assert cli_stack.workflow_count() == 0
    assert cli_stack.sandbox.world_snapshot() == before


@pytest.mark.parametrize("case", list(BAD_ACTS))
def test_bad_act_input_is_one_line_and_exit_2(cli_stack: CliStack, case: str) -> None:
    arguments, expected = BAD_ACTS[case]
    action_id = unique_action_id()
    before = cli_stack.sandbox.world_snapshot()

    outcome = cli_stack.run(*BASE, *arguments, "--action-id", action_id)

    assert outcome.code == 2, outcome
    line = outcome.one_error_line()
    assert len(line) < 300, line
    for words in expected:
        assert words in line, line
    assert_nothing_started(cli_stack, action_id, before)


@pytest.mark.parametrize("case", list(BAD_ACTS))
def test_bad_act_input_with_json_is_one_object(cli_stack: CliStack, case: str) -> None:
    arguments, expected = BAD_ACTS[case]
    action_id = unique_action_id()
    before = cli_stack.sandbox.world_snapshot()

    outcome = cli_stack.run(*BASE, *arguments, "--action-id", action_id, "--json")

    assert outcome.code == 2, outcome
    assert outcome.err == ""
    body = outcome.json()
    assert body["exit_code"] == 2
    for words in expected:
        assert words in body["error"]
    assert_nothing_started(cli_stack, action_id, before)


def test_action_id_without_the_action_prefix_is_bad_input(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()
    # Unique: tests/workflows/test_malformed_requests.py starts a workflow named refund-42 on the same server.
    wrong = f"refund-{uuid.uuid4().hex[:8]}"

    outcome = cli_stack.run(*refund("5", sku="TEE-RED-M"), "--action-id", wrong)

    assert outcome.code == 2, outcome
    assert outcome.one_error_line() == f"cxgov: action id '{wrong}' must start with 'action-'"
    assert_nothing_started(cli_stack, wrong, before)


def test_bad_input_as_a_real_process_exits_cleanly(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()
    action_id = unique_action_id()
    for case in ("mistyped amount", "extra param", "param without =", "empty reason"):
        arguments, expected = BAD_ACTS[case]
        outcome = cli_stack.subprocess(*BASE, *arguments, "--action-id", action_id)
        assert outcome.code == 2, (case, outcome)
        assert expected[0] in outcome.one_error_line()
    assert_nothing_started(cli_stack, action_id, before)


def test_missing_option_is_a_usage_error(cli_stack: CliStack) -> None:
    # typer prints usage errors as a multi-line panel (usage, hint, boxed message): exit 2, no traceback.
    before = cli_stack.sandbox.world_snapshot()

    outcome = cli_stack.subprocess("act", "refund", "--customer", "C-100", "--channel", "chat", "--reason", "x")

    assert outcome.code == 2, outcome
    assert outcome.out == ""
    assert "Missing option '--actor'" in outcome.err
    assert "Traceback" not in outcome.err
    assert_nothing_started(cli_stack, "action-none", before)


def test_an_actor_without_a_key_is_bad_input_and_starts_nothing(cli_stack: CliStack) -> None:
    before = cli_stack.workflow_count()
    outcome = cli_stack.run(*refund("5", sku="TEE-RED-M", actor="intern-bot"))

    assert outcome.code == 2, outcome
    assert outcome.one_error_line().startswith("cxgov: no key for 'intern-bot' in ")
    assert cli_stack.workflow_count() == before


def test_unknown_sandbox_order_is_bad_input(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()

    for event in ("dispatch", "payout"):
        outcome = cli_stack.run("sandbox", event, "O-9999")
        assert outcome.code == 2, outcome
        assert outcome.one_error_line() == "cxgov: order O-9999 does not exist in the sandbox"
    assert cli_stack.sandbox.world_snapshot() == before


UNREACHABLE_COMMANDS = {
    "act": refund("5", sku="TEE-RED-M"),
    "status": ("status", "action-123"),
    "approvals": ("approvals", "--as", "ana"),
    "approve": ("approve", "action-123", "--as", "ana", "--reason", "ok"),
}


@pytest.mark.parametrize("command", list(UNREACHABLE_COMMANDS))
def test_an_unreachable_api_is_one_line_exit_1_quickly(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    monkeypatch.setenv("CXGOV_API_URL", f"http://{UNREACHABLE}")
    monkeypatch.setenv("CXGOV_TOKEN", "cxgov_k0000000000000000_" + "x" * 43)
    monkeypatch.setenv("CXGOV_HOME", str(tmp_path))
    started = time.monotonic()

    outcome = in_process(capsys)(*UNREACHABLE_COMMANDS[command])

    assert time.monotonic() - started < 5
    assert outcome.code == 1, outcome
    line = outcome.one_error_line()
    assert line.startswith(f"cxgov: cannot reach the cxgov API at http://{UNREACHABLE}"), line
    assert "cxgov up" in line


def test_an_unreachable_api_as_a_real_process(tmp_path: Path, cli_env: None) -> None:
    env = child_env(
        {"CXGOV_API_URL": f"http://{UNREACHABLE}", "CXGOV_TOKEN": "cxgov_k0000000000000000_" + "x" * 43}
        | {"CXGOV_HOME": str(tmp_path)}
    )
    started = time.monotonic()

    outcome = run_subprocess(*refund("5", sku="TEE-RED-M"), "--json", env=env)

    assert time.monotonic() - started < 10
    assert outcome.code == 1, outcome
    assert outcome.err == ""
    assert outcome.json()["error"].startswith(f"cannot reach the cxgov API at http://{UNREACHABLE}")


def test_bad_input_is_reported_before_connecting(tmp_path: Path, cli_env: None) -> None:
    env = child_env({"CXGOV_TEMPORAL_ADDRESS": UNREACHABLE, "CXGOV_HOME": str(tmp_path)})

    outcome = run_subprocess(*BASE, "--reason", "damaged", *GOOD_PARAMS, "-p", "amount=forty", env=env)

    assert outcome.code == 2, outcome
    assert "must be an amount of money" in outcome.one_error_line()
