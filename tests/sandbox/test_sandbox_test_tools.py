"""The sandbox's test tools (`cxgov sandbox fault`, `cxgov sandbox load`, `cxgov demo`, `cxgov up --tour`) refuse
to run unless the built-in sandbox is the system of record of every action, and then change nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from harness import SEED, Outcome, Runner, in_process

from cxgov.sandbox import Sandbox

CXGOV = Path(sys.executable).parent / "cxgov"
SHOP = """  shop:
    http:
      url: ${SHOP_URL}
      headers:
        Authorization: Bearer ${SHOP_TOKEN}
      segment: {path: "/customers/{customer}", pick: tier}
      actions:
        refund:
          execute: {method: POST, path: "/orders/{params.order_id}/refunds"}
          verify: {path: "/refunds/{effect.id}"}
"""
SANDBOX = "  sandbox: {python: 'cxgov.sandbox.system:open_system', options: {seed: seed.yaml}}\n"
OWN = "  loyalty: {python: 'loyalty:open_system', options: {path: loyalty.db}}\n"
REFERENCE_ACTIONS = ["refund", "change_address", "cancel_order", "book_appointment", "share_customer_data"]


def systems_file(tmp_path: Path, systems: str, actions: dict[str, str]) -> Path:
    path = tmp_path / "systems.yaml"
    bound = "".join(f"  {action}: {system}\n" for action, system in actions.items())
    path.write_text(f"systems:\n{systems}actions:\n{bound}")
    return path


def other_world(tmp_path: Path) -> Path:
    """The reference seed with one customer renamed: loading it is visible in the world."""
    path = tmp_path / "other.yaml"
    text = SEED.read_text()
    assert text.count("Ada Park") == 1, "the reference seed names customer C-100 Ada Park"
    path.write_text(text.replace("Ada Park", "Grace Hopper"))
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runner:
    """`cxgov` in this process, with CXGOV_HOME at tmp_path (where the `sandbox` fixture's file is)."""
    for name in [name for name in os.environ if name.startswith("CXGOV_") or name.startswith("SHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CXGOV_HOME", str(tmp_path))
    return in_process(capsys)


def refused_line(outcome: Outcome, tool: str) -> str:
    assert outcome.code == 3, outcome
    line = outcome.one_error_line()
    assert f"`cxgov {tool}` is a test tool for the built-in sandbox" in line, line
    assert line.endswith("refused, nothing was changed"), line
    return line


@pytest.mark.parametrize(
    ("systems", "routed", "shown"),
    [
        (SHOP + SANDBOX, {"refund": "shop"}, "refund -> shop (http)"),
        (OWN + SANDBOX, {"refund": "loyalty", "cancel_order": "loyalty"}, "refund, cancel_order -> loyalty (python"),
    ],
    ids=["http", "python"],
)
def test_each_tool_refuses_when_an_action_goes_to_another_system_and_changes_nothing(
    run: Runner,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    systems: str,
    routed: dict[str, str],
    shown: str,
) -> None:
    actions = {action: routed.get(action, "sandbox") for action in REFERENCE_ACTIONS}
    path = systems_file(tmp_path, systems, actions)
    (tmp_path / "seed.yaml").write_text(SEED.read_text())
    monkeypatch.setenv("CXGOV_SYSTEMS", str(path))  # SHOP_URL and SHOP_TOKEN unset: refusing needs no secret
    sandbox.dispatch(order="O-1003")  # a world the tour would reset
    before = sandbox.world_snapshot()

    fault = run("sandbox", "fault", "book_appointment", "verify")
    load = run("sandbox", "load", str(other_world(tmp_path)))
    demo = run("demo")
    as_json = run("sandbox", "fault", "book_appointment", "verify", "--json")

    for outcome, tool in ((fault, "sandbox fault"), (load, "sandbox load"), (demo, "demo")):
        line = refused_line(outcome, tool)
        assert f"CXGOV_SYSTEMS={path} routes {shown}" in line, line
    assert as_json.code == 3 and as_json.json()["exit_code"] == 3
    assert "sandbox fault" in as_json.json()["error"]
    assert sandbox.world_snapshot() == before
    assert sandbox.take_fault(action="book_appointment", step="verify") is None, "no fault was armed"
    assert not (tmp_path / "loyalty.db").exists(), "the other system was not even opened"


def test_a_refusing_tool_is_a_clean_process_with_exit_3(sandbox: Sandbox, tmp_path: Path) -> None:
    path = systems_file(
        tmp_path, SHOP + SANDBOX, {a: "shop" if a == "refund" else "sandbox" for a in REFERENCE_ACTIONS}
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CXGOV_", "SHOP_"))}
    env |= {"CXGOV_HOME": str(tmp_path), "CXGOV_SYSTEMS": str(path)}
    before = sandbox.world_snapshot()

    done = subprocess.run(
        [str(CXGOV), "sandbox", "load", str(other_world(tmp_path))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    outcome = Outcome(code=done.returncode, out=done.stdout, err=done.stderr)
    assert "refund -> shop (http)" in refused_line(outcome, "sandbox load")
    assert sandbox.world_snapshot() == before


def test_up_with_the_tour_refuses_before_starting_anything(sandbox: Sandbox, tmp_path: Path) -> None:
    path = systems_file(
        tmp_path, SHOP + SANDBOX, {a: "shop" if a == "refund" else "sandbox" for a in REFERENCE_ACTIONS}
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CXGOV_", "SHOP_"))}
    env |= {"CXGOV_HOME": str(home), "CXGOV_SYSTEMS": str(path), "CXGOV_TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}

    done = subprocess.run(
        [str(CXGOV), "up", "--tour"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )

    outcome = Outcome(code=done.returncode, out=done.stdout, err=done.stderr)
    assert "refund -> shop (http)" in refused_line(outcome, "up --tour")
    assert not home.exists(), "no dev server, database or key was started or written"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the Temporal port"


def test_with_the_built_in_sandbox_fault_and_load_work(run: Runner, sandbox: Sandbox, tmp_path: Path) -> None:
    armed = run("sandbox", "fault", "book_appointment", "verify", "--times", "2", "--json")
    loaded = run("sandbox", "load", str(other_world(tmp_path)))

    assert armed.code == 0, armed
    assert armed.json() == {"action": "book_appointment", "step": "verify", "times": 2, "delay": 0.0}
    assert sandbox.take_fault(action="book_appointment", step="verify") == 0.0
    assert loaded.code == 0, loaded
    assert loaded.out.startswith(f"sandbox loaded from {tmp_path / 'other.yaml'}")
    assert sandbox.world_snapshot()["customers"]["C-100"]["name"] == "Grace Hopper"


def test_a_systems_file_binding_every_action_to_the_sandbox_is_the_sandbox(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tools then act on the file that systems file names, as the worker would open it."""
    bound = tmp_path / "bound"
    bound.mkdir()
    systems = "  sandbox: {python: 'cxgov.sandbox.system:open_system', options: {path: world.db}}\n"
    path = systems_file(bound, systems, dict.fromkeys(REFERENCE_ACTIONS, "sandbox"))
    monkeypatch.setenv("CXGOV_SYSTEMS", str(path))

    loaded = run("sandbox", "load", str(other_world(tmp_path)))
    armed = run("sandbox", "fault", "refund", "compensate")

    assert loaded.code == 0, loaded
    assert armed.code == 0, armed
    box = Sandbox(bound / "world.db")
    try:
        assert box.world_snapshot()["customers"]["C-100"]["name"] == "Grace Hopper"
        assert box.take_fault(action="refund", step="compensate") == 0.0
    finally:
        box.close()
    assert not (tmp_path / "sandbox.db").exists(), "CXGOV_HOME's default sandbox was not touched"
