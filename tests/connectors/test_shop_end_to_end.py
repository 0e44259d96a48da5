"""Governing an outside system end to end: the example shop behind the declarative HTTP connector.

Real processes only: a live and a sandbox shop on loopback ports, `cxgov worker` with CXGOV_SYSTEMS set to
examples/systems.yaml against the session's Temporal dev server, and the `cxgov` CLI as a child process.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli.clikit import CXGOV, child_env, cxgov_env, run_subprocess
from harness import CHARTER, Outcome, sign_charter
from shopkit import REPO, TOKEN, Shop, stop_process
from temporalio.testing import WorkflowEnvironment

from cxgov.charter import load_charter
from cxgov.identity import KeyStore
from cxgov.settings import Settings
from cxgov.stack import issue_local_keys

SYSTEMS = REPO / "examples" / "systems.yaml"
READY = "polling task queue"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ShopStack:
    """Two shops, a `cxgov worker` governing them, and the environment pointing `cxgov` at that worker."""

    live: Shop
    sandbox: Shop
    env: dict[str, str]
    drills: dict[str, Outcome] = field(default_factory=dict)
    live_writes_during_drills: list[dict[str, Any]] = field(default_factory=list)

    def cxgov(self, *args: str) -> Outcome:
        return run_subprocess(*args, env=self.env, timeout=90)

    def act_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.cxgov(*args, "--json")
        return done.code, json.loads(done.out)


def start(command: str, env: dict[str, str], log: Path, *, ready: str) -> subprocess.Popen[bytes]:
    """`cxgov COMMAND` as a child process (output to `log`); returns once it prints `ready`."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(CXGOV), command], env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if ready in log.read_text():
            return process
        time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"cxgov {command} did not start: {log.read_text()}")


def start_worker(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
    """`cxgov worker`, `cxgov serve` in front of it, and a key file per actor and person for the CLI."""
    home = Path(env["CXGOV_HOME"])
    keys = KeyStore(f"sqlite:///{home / 'audit.db'}")
    try:
        issue_local_keys(Settings(home=home, charter_path=CHARTER), load_charter(CHARTER), keys)
    finally:
        keys.close()
    sign_charter(f"sqlite:///{home / 'audit.db'}")  # a production worker loads only a signed charter
    worker = start("worker", env, log, ready=READY)
    try:
        return [worker, start("serve", env, log.with_suffix(".serve.log"), ready="serving; Ctrl-C stops")]
    except BaseException:
        stop_worker([worker])
        raise


def stop_worker(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ctrl-C, as a person would; killed after 30 s."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(process)


@pytest.fixture(scope="module")
def shop_stack(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopStack]:
    folder = tmp_path_factory.mktemp("shop-stack")
    live = Shop.start(folder / "live.db")
    sandbox = Shop.start(folder / "sandbox.db")
    worker: list[subprocess.Popen[bytes]] | None = None
    try:
        address = dev_env.client.service_client.config.target_host
        settings = cxgov_env(home=folder / "home", address=address, task_queue=f"shop-{uuid.uuid4()}", charter=CHARTER)
        settings |= {
            "CXGOV_SYSTEMS": str(SYSTEMS),
            "CXGOV_ACTIVITY_TIMEOUT": "5",
            "SHOP_URL": live.url,
            "SHOP_SANDBOX_URL": sandbox.url,
            "SHOP_TOKEN": TOKEN,
            "SHOP_TIMEOUT": "2s",
            "CXGOV_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        env = child_env(settings)
        worker = start_worker(env, folder / "worker.log")
        stack = ShopStack(live=live, sandbox=sandbox, env=env)
        before = len(live.writes())
        # Autonomy is earned by drills (rule 5): run both now, as `cxgov up` does at start.
        for action in ("refund", "cancel_order"):
            stack.drills[action] = stack.cxgov("drills", "run", action)
        stack.live_writes_during_drills = live.writes()[before:]
        yield stack
    finally:
        if worker is not None:
            stop_worker(worker)
        live.stop()
        sandbox.stop()


def refund(order: str, amount: str, *, sku: str = "MUG-BLUE", action_id: str | None = None) -> tuple[str, ...]:
    args = ("act", "refund", "--actor", "support-bot", "--customer", "C-100", "--channel", "chat")
    args += ("--reason", "arrived broken", "-p", f"order_id={order}", "-p", f"sku={sku}", "-p", f"amount={amount}")
    return (*args, "--action-id", action_id) if action_id else args


def test_drills_run_in_the_sandbox_shop_only(shop_stack: ShopStack) -> None:
    for action, outcome in shop_stack.drills.items():
        assert (outcome.code, outcome.err) == (0, ""), outcome.out
        assert outcome.out.startswith(f"drill of {action}: PASSED"), outcome.out
    assert shop_stack.live_writes_during_drills == [], "a drill never calls the live shop"
    sandbox_paths = [(write["method"], write["path"]) for write in shop_stack.sandbox.writes()]
    assert ("POST", "/orders") in sandbox_paths  # each drill's fresh fixture order
    assert any(path.endswith("/refunds") for _, path in sandbox_paths)
    assert any(path.startswith("/refunds/") and path.endswith("/reverse") for _, path in sandbox_paths)
    assert any(path.endswith("/cancel") for _, path in sandbox_paths)
    assert any(path.endswith("/undo") for _, path in sandbox_paths)


def test_an_allowed_refund_lands_once_in_the_live_shop(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order()
    code, done = shop_stack.act_json(*refund(order, "40"))
    assert (code, done["status"], done["decision"]["rule"]) == (0, "completed", "6-allow")
    writes = [w for w in shop_stack.live.writes() if w["path"] == f"/orders/{order}/refunds"]
    assert [(w["key"], w["status"]) for w in writes] == [(done["action_id"], 201)], "Idempotency-Key: <action id>"
    line = shop_stack.live.get(f"/orders/{order}")["lines"][0]
    assert (line["refunded"], line["left"]) == ("40.00", "60.00")

    status = shop_stack.cxgov("status", done["action_id"], "--json")
    state = json.loads(status.out)
    assert state["steps"][0]["summary"].startswith(f"POST /orders/{order}/refunds: refund_id 'R-")


def test_an_escalated_refund_waits_for_a_person_then_lands(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order(price="200")
    code, waiting = shop_stack.act_json(*refund(order, "120"))
    assert (code, waiting["status"], waiting["decision"]["rule"]) == (0, "awaiting_approval", "5-approve-above")
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "0.00", "nothing before approval"
    approved = shop_stack.cxgov("approve", waiting["action_id"], "--as", "ana", "--reason", "photo checked", "--json")
    assert approved.code == 0, approved.out + approved.err
    status = json.loads(shop_stack.cxgov("status", waiting["action_id"], "--json").out)
    assert status["status"] == "completed", status
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "120.00"


def test_a_failed_read_back_is_compensated_in_the_live_shop(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order()
    shop_stack.live.fault(path_prefix="/refunds/", status=404)  # the read-back finds nothing, once
    code, done = shop_stack.act_json(*refund(order, "30"))
    assert (code, done["status"]) == (1, "compensated"), done
    refund_id = next(w["path"] for w in shop_stack.live.writes() if w["path"].endswith("/reverse")).split("/")[2]
    assert shop_stack.live.get(f"/refunds/{refund_id}")["status"] == "reversed"
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "0.00"


def test_the_owner_role_reverses_a_refund_and_nobody_after_payout(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order()
    _, first = shop_stack.act_json(*refund(order, "20"))
    assert first["status"] == "completed"
    refused = shop_stack.cxgov("reverse", first["action_id"], "--as", "ana", "--reason", "wrong role")
    assert refused.code == 3 and "not in refund's reversal owner role finance-ops" in refused.err
    reversed_ = shop_stack.cxgov("reverse", first["action_id"], "--as", "farid", "--reason", "customer kept it")
    assert reversed_.code == 0, reversed_.out + reversed_.err
    assert "reversed by farid" in reversed_.out
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "0.00"

    _, second = shop_stack.act_json(*refund(order, "25"))
    assert second["status"] == "completed"
    assert shop_stack.live.request("POST", f"/admin/orders/{order}/payout").status_code == 200
    late = shop_stack.cxgov("reverse", second["action_id"], "--as", "farid", "--reason", "too late?")
    assert late.code == 3, late.out + late.err
    assert "reversible until payout (the refund is paid out), which has happened" in late.err
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "25.00"


def test_a_retried_request_and_a_timed_out_write_each_land_once(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order()
    action_id = f"action-{uuid.uuid4()}"
    _, first = shop_stack.act_json(*refund(order, "10", action_id=action_id))
    _, again = shop_stack.act_json(*refund(order, "10", action_id=action_id))
    assert (first["status"], again["status"], again["action_id"]) == ("completed", "completed", action_id)

    # The shop answers the next refund only after 3 s; the connector gives up after 2 s and Temporal retries
    # with the same Idempotency-Key: whichever attempt lands first, the refund exists once.
    shop_stack.live.fault(path_prefix=f"/orders/{order}/refunds", delay=3)
    _, slow = shop_stack.act_json(*refund(order, "15"))
    assert slow["status"] == "completed", slow
    keyed = [w for w in shop_stack.live.writes() if w["path"] == f"/orders/{order}/refunds"]
    assert [w["key"] for w in keyed].count(slow["action_id"]) == 2, "the write was sent twice"
    assert shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "25.00", "and landed once"


def test_a_refusal_reaches_the_caller_and_a_5xx_is_retried(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order(price="40")
    over = shop_stack.cxgov(*refund(order, "45"), "--json")
    denied = json.loads(over.out)
    assert (over.code, denied["status"], denied["decision"]["rule"]) == (3, "denied", "4-precondition")
    assert "exceeds what is left to refund" in denied["decision"]["reasons"][0], "the shop's own words"

    shop_stack.live.fault(path_prefix=f"/orders/{order}/refunds", status=503)
    code, done = shop_stack.act_json(*refund(order, "5"))
    assert (code, done["status"]) == (0, "completed")
    statuses = [w["status"] for w in shop_stack.live.writes() if w["path"] == f"/orders/{order}/refunds"]
    assert statuses[-1] == 201 and shop_stack.live.get(f"/orders/{order}")["lines"][0]["refunded"] == "5.00"


def test_a_cancellation_is_checked_again_when_it_executes(shop_stack: ShopStack) -> None:
    order = shop_stack.live.new_order()
    args = ("act", "cancel_order", "--actor", "support-bot", "--customer", "C-100", "--channel", "chat")
    code, done = shop_stack.act_json(*args, "--reason", "changed mind", "-p", f"order_id={order}")
    assert (code, done["status"]) == (0, "completed")
    assert shop_stack.live.get(f"/orders/{order}")["status"] == "cancelled"

    late = shop_stack.live.new_order()
    assert shop_stack.live.request("POST", f"/admin/orders/{late}/age", {"hours": 30}).status_code == 200
    code, denied = shop_stack.act_json(*args, "--reason", "changed mind", "-p", f"order_id={late}")
    assert (code, denied["status"], denied["decision"]["rule"]) == (3, "denied", "4-precondition")
    assert "precondition placed_within_24h is false: cancellable is false, not true" in denied["decision"]["reasons"]


def test_a_shop_that_is_down_leaves_no_half_done_action(shop_stack: ShopStack, tmp_path: Path) -> None:
    down = Shop.start(tmp_path / "down.db")
    down.stop()  # its port answers nothing now
    env = {**shop_stack.env, "SHOP_URL": down.url}
    worker_home = tmp_path / "home"
    settings = {**env, "CXGOV_HOME": str(worker_home), "CXGOV_TASK_QUEUE": f"shop-down-{uuid.uuid4()}"}
    settings |= {"CXGOV_HTTP_ADDRESS": f"127.0.0.1:{free_port()}"}
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        done = run_subprocess(*refund("O-1001", "10", sku="TEE-RED-M"), "--json", env=settings, timeout=90)
        denied = json.loads(done.out)
        assert (done.code, denied["status"], denied["decision"]["rule"]) == (3, "denied", "4-system-of-record")
        assert "cannot be reached" in denied["decision"]["reasons"][0]
    finally:
        stop_worker(worker)
