"""`cxgov sandbox dispatch|payout|fault`: the system-of-record events and faults, seen through governed actions."""

from __future__ import annotations

from clikit import CliStack, act, refund

from cxgov.wire import Status

CHANGE_ADDRESS = act("change_address", reason="customer moved", order_id="O-1001", address="2 New St, Springfield")
BOOK = act("book_appointment", reason="annual check-up", clinic="north", slot="2026-12-01T09:00")


def test_dispatch_makes_the_address_final(cli_stack: CliStack) -> None:
    outcome = cli_stack.run("sandbox", "dispatch", "O-1001")

    assert outcome.code == 0, outcome
    assert outcome.out.startswith("order O-1001 dispatched at ")
    assert "address is now final" in outcome.out
    assert cli_stack.sandbox.world_snapshot()["orders"]["O-1001"]["dispatched"] is True

    again = cli_stack.run("sandbox", "dispatch", "O-1001", "--json")
    assert again.code == 0
    assert again.json()["event"] == "dispatch"
    assert "already dispatched" in again.json()["summary"]

    changed = cli_stack.run(*CHANGE_ADDRESS, "--json")
    assert changed.code == 3, changed
    assert changed.json()["status"] == Status.DENIED
    assert cli_stack.sandbox.world_snapshot()["orders"]["O-1001"]["address"] == "1 Main St, Springfield"


def test_address_change_before_dispatch_completes(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(*CHANGE_ADDRESS, "--json")

    assert outcome.code == 0, outcome
    assert outcome.json()["status"] == Status.COMPLETED
    assert cli_stack.sandbox.world_snapshot()["orders"]["O-1001"]["address"] == "2 New St, Springfield"


def test_payout_makes_pending_refunds_final(cli_stack: CliStack) -> None:
    nothing = cli_stack.run("sandbox", "payout", "O-1001", "--json")
    assert nothing.code == 0, nothing
    assert nothing.json()["summary"] == "order O-1001: no pending refunds to pay out"

    action_id = cli_stack.run(*refund("30", sku="TEE-RED-M")).json()["action_id"]
    outcome = cli_stack.run("sandbox", "payout", "O-1001")

    assert outcome.code == 0, outcome
    assert "paid out 1 pending refund(s) totalling 30" in outcome.out
    assert cli_stack.sandbox.world_snapshot()["refunds"][action_id]["paid_out"] is True


def test_unknown_order_is_bad_input(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()

    text = cli_stack.run("sandbox", "dispatch", "O-404")
    as_json = cli_stack.run("sandbox", "payout", "O-404", "--json")

    assert text.code == 2
    assert text.one_error_line() == "cxgov: order O-404 does not exist in the sandbox"
    assert as_json.code == 2
    assert as_json.json() == {"error": "order O-404 does not exist in the sandbox", "exit_code": 2}
    assert cli_stack.sandbox.world_snapshot() == before


def test_verify_fault_makes_the_saga_compensate(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()

    armed = cli_stack.run("sandbox", "fault", "book_appointment", "verify", "--json")
    assert armed.code == 0, armed
    assert armed.json() == {"action": "book_appointment", "step": "verify", "times": 1, "delay": 0.0}

    booked = cli_stack.run(*BOOK, "--json")
    assert booked.code == 1, booked
    assert booked.json()["status"] == Status.COMPENSATED
    assert cli_stack.sandbox.world_snapshot() == before

    # The fault was used up: the next booking goes through.
    again = cli_stack.run(*BOOK, "--json")
    assert again.code == 0, again
    assert again.json()["status"] == Status.COMPLETED


def test_fault_with_an_unknown_step_or_action_is_bad_input(cli_stack: CliStack) -> None:
    step = cli_stack.run("sandbox", "fault", "book_appointment", "sideways")
    action = cli_stack.run("sandbox", "fault", "teleport", "verify")

    assert step.code == 2
    assert "step 'sideways' is not one of verify, compensate, execute, pause, pause-compensate" in step.one_error_line()
    assert action.code == 2
    assert "no connector for action 'teleport'" in action.one_error_line()


def test_sandbox_commands_as_real_processes(cli_stack: CliStack) -> None:
    dispatched = cli_stack.subprocess("sandbox", "dispatch", "O-1003", "--json")
    missing = cli_stack.subprocess("sandbox", "payout", "O-404")

    assert dispatched.code == 0, dispatched
    assert dispatched.json()["order"] == "O-1003"
    assert missing.code == 2
    assert missing.one_error_line() == "cxgov: order O-404 does not exist in the sandbox"
    assert cli_stack.sandbox.world_snapshot()["orders"]["O-1003"]["dispatched"] is True
