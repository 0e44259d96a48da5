"""`cxgov act`, `approvals`, `approve`, `deny` and `status` against a real Temporal dev server and worker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from clikit import ALLOWED_REFUND, CliStack, refund
from harness import Outcome

from cxgov.wire import Status

DECISION_KEYS = {"outcome", "rule", "reasons", "gap"}


def run_with(cli_stack: CliStack, way: str, *args: str) -> Outcome:
    return cli_stack.run(*args) if way == "in-process" else cli_stack.subprocess(*args)


def settled_status(cli_stack: CliStack, way: str, action_id: str) -> dict[str, Any]:
    """`cxgov status ID --json` once the action has left awaiting_approval and executing (an approval returns
    as soon as it is recorded; execution follows)."""
    deadline = time.monotonic() + 20
    while True:
        outcome = run_with(cli_stack, way, "status", action_id, "--json")
        assert outcome.code == 0, outcome
        state = outcome.json()
        if state["status"] not in (Status.AWAITING_APPROVAL, Status.EXECUTING) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_allowed_refund_completes(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(*ALLOWED_REFUND, "--json")

    assert outcome.code == 0, outcome
    assert outcome.err == ""
    body = outcome.json()
    assert body["action_id"].startswith("action-")
    assert body["status"] == Status.COMPLETED
    assert set(body["decision"]) == DECISION_KEYS
    assert body["decision"]["outcome"] == "allow"
    assert body["decision"]["rule"] == "6-allow"
    assert body["decision"]["gap"] is False
    assert body["decision"]["reasons"] and all(isinstance(reason, str) for reason in body["decision"]["reasons"])
    assert body["charter_version"] == 3
    refunds = cli_stack.sandbox.world_snapshot()["refunds"]
    assert refunds[body["action_id"]]["amount"] == "40"


def test_act_prints_json_without_the_flag_too(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(*ALLOWED_REFUND)

    assert outcome.code == 0, outcome
    assert outcome.json()["status"] == Status.COMPLETED


def test_retry_with_the_same_action_id_joins_the_first(cli_stack: CliStack) -> None:
    first = cli_stack.run(*ALLOWED_REFUND, "--action-id", "action-cli-retry-1", "--json").json()
    again = cli_stack.run(*ALLOWED_REFUND, "--action-id", "action-cli-retry-1", "--json")

    assert again.code == 0, again
    assert again.json() == first
    assert cli_stack.sandbox.world_snapshot()["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] == "40"


@pytest.mark.parametrize("way", ["in-process", "subprocess"])
def test_escalated_refund_is_approved_by_a_support_lead(cli_stack: CliStack, way: str) -> None:
    acted = run_with(cli_stack, way, *refund("120"), "--json")
    assert acted.code == 0, acted
    body = acted.json()
    action_id = body["action_id"]
    assert body["status"] == Status.AWAITING_APPROVAL
    assert body["decision"]["outcome"] == "escalate"
    assert body["decision"]["rule"] == "5-approve-above"

    listed = run_with(cli_stack, way, "approvals", "--as", "ana", "--json")
    assert listed.code == 0, listed
    pending = {item["action_id"]: item for item in listed.json()["pending"]}
    assert action_id in pending
    assert pending[action_id]["eligible"] == ["ana", "ben"]
    assert pending[action_id]["role"] == "support-lead"
    assert pending[action_id]["amount"] == "120"
    not_for_omar = run_with(cli_stack, way, "approvals", "--as", "omar", "--json")
    assert action_id not in {item["action_id"] for item in not_for_omar.json()["pending"]}

    refused = run_with(cli_stack, way, "approve", action_id, "--as", "omar", "--reason", "looks fine")
    assert refused.code == 3, refused
    assert refused.out.startswith("refused: omar is not on ladder step 1"), refused
    assert "ana, ben" in refused.out
    assert "Traceback" not in refused.err

    approved = run_with(cli_stack, way, "approve", action_id, "--as", "ana", "--reason", "ok", "--json")
    assert approved.code == 0, approved
    assert approved.json()["accepted"] is True
    assert approved.json()["refusal"] is None

    state = settled_status(cli_stack, way, action_id)
    assert state["status"] == Status.COMPLETED
    assert state["charter_version"] == 3
    records = [(record["person"], record["accepted"]) for record in state["approvals"]]
    assert records == [("omar", False), ("ana", True)]
    assert state["approvals"][0]["refusal"].startswith("omar is not on ladder step 1")
    assert state["approvals"][1]["reason"] == "ok"
    assert [step["step"] for step in state["steps"]] == ["execute", "verify"]
    assert cli_stack.sandbox.world_snapshot()["refunds"][action_id]["amount"] == "120"


def test_approvals_text_lists_who_may_decide(cli_stack: CliStack) -> None:
    action_id = cli_stack.run(*refund("120"), "--json").json()["action_id"]

    outcome = cli_stack.run("approvals", "--as", "ben")

    assert outcome.code == 0, outcome
    line = next(line for line in outcome.out.splitlines() if line.startswith(action_id))
    assert "support-bot refund 120 for C-100" in line
    assert "may decide: ana, ben" in line


def test_escalated_refund_denied_by_a_support_lead(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()
    action_id = cli_stack.run(*refund("120"), "--json").json()["action_id"]

    denied = cli_stack.run("deny", action_id, "--as", "ben", "--reason", "customer already got a voucher", "--json")

    assert denied.code == 0, denied
    assert denied.json()["accepted"] is True
    state = settled_status(cli_stack, "in-process", action_id)
    assert state["status"] == Status.DENIED
    assert [(r["verdict"], r["person"], r["accepted"]) for r in state["approvals"]] == [("deny", "ben", True)]
    assert cli_stack.sandbox.world_snapshot() == before
    again = cli_stack.run("approve", action_id, "--as", "ana", "--reason", "too late")
    assert again.code == 3
    assert "not awaiting approval" in again.one_error_line()


def test_requester_cannot_approve_their_own_request(cli_stack: CliStack) -> None:
    # tier1 (omar) may refund up to 1000; above 300 a support lead decides.
    acted = cli_stack.run(*refund("400", sku="COAT-NAVY-M", actor="omar", order="O-1003", customer="C-300"))
    assert acted.json()["status"] == Status.AWAITING_APPROVAL, acted
    action_id = acted.json()["action_id"]

    outcome = cli_stack.run("approve", action_id, "--as", "omar", "--reason", "mine", "--json")

    assert outcome.code == 3
    assert outcome.json()["accepted"] is False
    assert "own request" in outcome.json()["refusal"]


def test_denied_action_exits_3_and_prints_the_decision(cli_stack: CliStack) -> None:
    before = cli_stack.sandbox.world_snapshot()

    outcome = cli_stack.run(*refund("250"), "--json")

    assert outcome.code == 3, outcome
    body = outcome.json()
    assert body["status"] == Status.DENIED
    assert body["decision"]["outcome"] == "deny"
    assert body["decision"]["rule"] == "4-max-amount"
    assert body["decision"]["gap"] is False
    assert body["charter_version"] == 3
    assert cli_stack.sandbox.world_snapshot() == before


def test_final_sale_sku_is_denied(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(*refund("12", sku="FINAL-SOCKS-3P"))

    assert outcome.code == 3, outcome
    assert outcome.json()["decision"]["rule"].startswith("4-")


def test_unknown_action_is_denied_as_a_gap(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(
        "act", "teleport", "--actor", "support-bot", "--customer", "C-100", "--channel", "chat", "--reason", "why not"
    )

    assert outcome.code == 3, outcome
    body = outcome.json()
    assert body["status"] == Status.DENIED
    assert body["decision"]["gap"] is True
    assert "teleport" in " ".join(body["decision"]["reasons"])
    assert cli_stack.exists(body["action_id"]), "a gap is on the record: the denial runs as a workflow"


def test_a_name_without_a_credential_acts_for_nobody(cli_stack: CliStack) -> None:
    """A name is not an identity: `--actor mallory` has no key, so nothing starts (a gap needs a principal)."""
    before = cli_stack.workflow_count()
    outcome = cli_stack.run(*refund("40", sku="TEE-RED-M", actor="mallory"), "--json")

    assert outcome.code == 2, outcome
    assert outcome.json()["error"].startswith("no key for 'mallory' in ")
    assert cli_stack.workflow_count() == before


def test_a_person_without_a_grant_is_denied_as_a_gap(cli_stack: CliStack) -> None:
    outcome = cli_stack.run(*refund("40", sku="TEE-RED-M", actor="dana"), "--json")

    assert outcome.code == 3, outcome
    body = outcome.json()
    assert (body["status"], body["decision"]["gap"], body["decision"]["rule"]) == (Status.DENIED, True, "1-no-grant")
    assert "dana" in " ".join(body["decision"]["reasons"])


def test_status_of_an_unknown_action_is_bad_input(cli_stack: CliStack) -> None:
    outcome = cli_stack.run("status", "action-does-not-exist")

    assert outcome.code == 2
    assert outcome.one_error_line() == "cxgov: no action action-does-not-exist"


def test_status_of_an_id_without_the_action_prefix_is_bad_input(cli_stack: CliStack) -> None:
    outcome = cli_stack.run("status", "refund-42", "--json")

    assert outcome.code == 2
    assert outcome.json()["exit_code"] == 2


def test_with_cxgov_token_set_a_name_of_someone_else_is_refused(cli_stack: CliStack) -> None:
    keys = cli_stack.home / "keys"
    assert {oct(path.stat().st_mode & 0o777) for path in keys.iterdir() if path.is_file()} == {"0o600"}
    env = {**cli_stack.env, "CXGOV_TOKEN": (keys / "ben").read_text().strip()}

    as_ana = cli_stack.subprocess("approvals", "--as", "ana", env=env)
    assert as_ana.code == 3 and as_ana.one_error_line() == "cxgov: the caller is ben: a request cannot be made as ana"
    as_bot = cli_stack.subprocess(*ALLOWED_REFUND, env=env)
    assert as_bot.code == 3 and "the caller is ben: a request cannot name another actor (support-bot)" in as_bot.err
    as_ben = cli_stack.subprocess("approvals", "--as", "ben", "--json", env=env)
    assert as_ben.code == 0 and as_ben.json() == {"pending": [], "unreadable": []}


def test_a_revoked_key_file_is_refused_with_where_the_key_came_from(cli_stack: CliStack) -> None:
    key_file = cli_stack.home / "keys" / "omar"
    key_id = key_file.read_text().split("_")[1]
    revoked = cli_stack.run("keys", "revoke", key_id)
    assert revoked.code == 0, revoked
    time.sleep(1.1)  # the API reuses a key's check for up to a second

    outcome = cli_stack.run("approvals", "--as", "omar")
    assert outcome.code == 3
    line = outcome.one_error_line()
    assert line.startswith("cxgov: the token is not valid: unknown, expired or revoked (from the key file "), line
    assert line.endswith("`cxgov up` issues a fresh one when it starts)")
