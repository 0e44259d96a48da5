"""Binding charter actions to systems of record: the systems file, and a worker that refuses what does not fit.

`cxgov worker` and `cxgov up` check the binding before connecting to anything: these tests point them at a
Temporal address where nothing listens, so an exit 2 with the problems proves no connection was tried.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli.clikit import UNREACHABLE, child_env, run_subprocess
from harness import CHARTER, Outcome, write_charter

from cxgov.charter import load_charter
from cxgov.connectors import Systems, load_systems
from cxgov.errors import SystemsError
from cxgov.sandbox import Sandbox

SANDBOX = "  sandbox: {python: 'cxgov.sandbox.system:open_system'}\n"
SHOP_WITHOUT_CHECKS = """  shop:
    http:
      url: http://127.0.0.1:1
      segment: {path: "/customers/{customer}", pick: tier}
      actions:
        refund:
          execute: {method: POST, path: "/orders/{params.order_id}/refunds"}
          verify: {path: "/refunds/{effect.id}"}
        cancel_order:
          execute: {method: POST, path: "/orders/{params.order_id}/cancel"}
          verify: {path: "/orders/{params.order_id}"}
"""


def systems_file(tmp_path: Path, systems: str, actions: dict[str, str]) -> Path:
    path = tmp_path / "systems.yaml"
    bound = "".join(f"  {action}: {system}\n" for action, system in actions.items())
    path.write_text(f"systems:\n{systems}actions:\n{bound}")
    return path


def worker(tmp_path: Path, *, charter: Path = CHARTER, systems: Path | None = None, command: str = "worker") -> Outcome:
    settings = {
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": UNREACHABLE,
        "CXGOV_CHARTER": str(charter),
    }
    if systems is not None:
        settings["CXGOV_SYSTEMS"] = str(systems)
    return run_subprocess(command, env=child_env(settings), timeout=60)


def test_a_worker_refuses_to_start_naming_every_action_that_does_not_fit(tmp_path: Path) -> None:
    path = systems_file(
        tmp_path,
        SANDBOX + SHOP_WITHOUT_CHECKS,
        {
            "refund": "shop",
            "cancel_order": "shop",
            "book_appointment": "sandbox",
            "share_customer_data": "sandbox",
            "close_account": "sandbox",
        },
    )
    done = worker(tmp_path, systems=path)
    assert done.code == 2, done
    assert done.out == ""
    assert done.err.splitlines() == [
        "cxgov: action refund: system shop cannot tell until event payout (it can tell: none)",
        "cxgov: action change_address: no system of record serves it; bind it in the systems file",
        "cxgov: action cancel_order: system shop cannot check precondition placed_within_24h (it can check: none)",
        "cxgov: action close_account: bound to system sandbox, but charter acme-retail v3 does not declare it",
    ]


def test_with_no_systems_file_the_sandbox_serves_every_action_it_can(tmp_path: Path) -> None:
    charter = write_charter(
        tmp_path,
        ("preconditions: [capacity]", "preconditions: [capacity, vibes]"),
        ("until: payout ", "until: tuesday "),
    )
    done = worker(tmp_path, charter=charter)
    assert done.code == 2, done
    assert done.err.splitlines() == [
        "cxgov: action refund: system sandbox cannot tell until event tuesday (it can tell: dispatch, payout)",
        "cxgov: action book_appointment: system sandbox cannot check precondition vibes (it can check: capacity)",
    ]
    up = worker(tmp_path, charter=charter, command="up")
    assert (up.code, up.err.splitlines()[0]) == (2, done.err.splitlines()[0]), "cxgov up checks before it starts"


def test_a_charter_action_the_sandbox_has_no_connector_for_is_named(tmp_path: Path) -> None:
    charter = write_charter(
        tmp_path,
        ("actions:\n", "actions:\n  close_account:\n    reversal: {kind: irreversible, procedure: Reopen by hand}\n"),
    )
    done = worker(tmp_path, charter=charter)
    assert done.code == 2, done
    assert "cxgov: action close_account: system sandbox has no connector for it (it has: book_appointment" in done.err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "systems:\n  shop:\n    http: {url: '${NOT_SET_ANYWHERE}'}\n",
            "systems.shop.http.url: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "systems:\n  shop:\n    http:\n      url: http://x\n      headers: {Authorization: Bearer abc}\n",
            "systems.shop.http.headers.Authorization: a secret is written into the file",
        ),
        (
            "systems:\n  a: {python: 'no.such.module:open'}\nactions: {refund: a}\n",
            "systems.a: cannot load the system's factory",
        ),
        (
            "systems:\n  a: {python: 'cxgov.sandbox.system:open_system'}\nactions: {refund: b}\n",
            "action refund is bound to 'b'",
        ),
        ("systems:\n  a: {python: x, http: {url: 'http://x'}}\n", "systems.a"),
        ("systems: {}\n", "systems"),
    ],
)
def test_a_bad_systems_file_is_one_located_error(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(text)
    with pytest.raises(SystemsError) as caught:
        load_systems(path, home=tmp_path)
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")
    done = worker(tmp_path, systems=path)
    assert done.code == 2 and done.err.startswith(f"cxgov: {path}:"), done


def test_the_example_systems_file_binds_every_reference_action(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SHOP_URL": "http://127.0.0.1:1",
        "SHOP_SANDBOX_URL": "http://127.0.0.1:2",
        "SHOP_TOKEN": "t",
    }.items():
        monkeypatch.setenv(name, value)
    systems = load_systems(Path(__file__).resolve().parents[2] / "examples" / "systems.yaml", home=tmp_path)
    try:
        assert systems.problems(load_charter(CHARTER)) == []
        assert {action: system.name for action, system in systems.actions.items()} == {
            "refund": "shop",
            "cancel_order": "shop",
            "change_address": "sandbox",
            "book_appointment": "sandbox",
            "share_customer_data": "sandbox",
        }
    finally:
        systems.close()


def test_serving_binds_exactly_what_it_is_given(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "sandbox.db")
    try:
        assert sorted(Systems.serving(box).actions) == sorted(box.connectors)
        only = Systems.serving(box, ["refund"])
        assert list(only.actions) == ["refund"]
        assert "change_address: no system of record serves it" in "\n".join(only.problems(load_charter(CHARTER)))
    finally:
        box.close()


def test_sandbox_seed_option_with_a_systems_file_is_refused(tmp_path: Path) -> None:
    path = systems_file(tmp_path, SANDBOX, {})
    settings = {
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": UNREACHABLE,
        "CXGOV_CHARTER": str(CHARTER),
        "CXGOV_SYSTEMS": str(path),
    }
    done = run_subprocess("worker", "--sandbox", str(tmp_path / "seed.yaml"), env=child_env(settings), timeout=60)
    assert done.code == 2
    assert "--sandbox reseeds the built-in default system; with CXGOV_SYSTEMS=" in done.one_error_line()
