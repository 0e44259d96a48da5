"""Injected faults: each fires where documented, as often as armed, and a retry after one finds the effect."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from cxgov.errors import BadRequest, NotFound
from cxgov.sandbox import Sandbox
from cxgov.wire import ConnectorCall, EffectResult

CALL = ConnectorCall(
    action_id="a-fault",
    action="refund",
    customer="C-100",
    params={"order_id": "O-1001", "sku": "TEE-RED-M", "amount": Decimal("40")},
)


def test_faults_are_consumed_one_at_a_time(sandbox: Sandbox) -> None:
    sandbox.add_fault(action="refund", step="pause", times=2, delay_seconds=1.5)

    assert sandbox.take_fault(action="refund", step="pause") == 1.5
    assert sandbox.take_fault(action="refund", step="pause") == 1.5
    assert sandbox.take_fault(action="refund", step="pause") is None
    assert sandbox.take_fault(action="cancel_order", step="pause") is None


def test_arming_a_fault_names_what_is_wrong(sandbox: Sandbox) -> None:
    with pytest.raises(NotFound, match="no connector for action 'teleport'"):
        sandbox.add_fault(action="teleport", step="execute")
    with pytest.raises(BadRequest, match="unknown fault step 'explode'"):
        sandbox.add_fault(action="refund", step="explode")
    with pytest.raises(BadRequest, match="at least once"):
        sandbox.add_fault(action="refund", step="execute", times=0)


def test_a_verify_fault_reports_not_ok_once(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    connector.execute(CALL)
    sandbox.add_fault(action="refund", step="verify")

    faulted = connector.verify(CALL)

    assert (faulted.ok, faulted.summary) == (False, "injected fault")
    assert connector.verify(CALL).ok


def test_a_compensate_fault_raises_and_undoes_nothing(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    before = sandbox.world_snapshot()
    connector.execute(CALL)
    applied = sandbox.world_snapshot()
    sandbox.add_fault(action="refund", step="compensate")

    with pytest.raises(RuntimeError, match=r"^injected fault: compensate$"):
        connector.compensate(CALL)
    assert sandbox.world_snapshot() == applied

    assert connector.compensate(CALL).undone
    assert sandbox.world_snapshot() == before


def test_an_execute_fault_raises_after_the_effect_and_a_retry_finds_it(sandbox: Sandbox) -> None:
    connector = sandbox.connector("refund")
    sandbox.add_fault(action="refund", step="execute")

    with pytest.raises(RuntimeError, match="injected fault: execute"):
        connector.execute(CALL)
    assert list(sandbox.world_snapshot()["refunds"]) == ["a-fault"]

    retry = connector.execute(CALL)
    assert not retry.applied
    assert list(sandbox.world_snapshot()["refunds"]) == ["a-fault"]


def test_a_pause_holds_execute_after_its_effect_is_committed(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_fault(action="refund", step="pause", delay_seconds=0.5)
    results: list[EffectResult] = []
    paused = threading.Thread(target=lambda: results.append(sandbox.connector("refund").execute(CALL)))
    paused.start()

    # The effect shows while execute is still sleeping: a worker killed now has already applied it...
    deadline = time.monotonic() + 5
    while not sandbox.world_snapshot()["refunds"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(sandbox.world_snapshot()["refunds"]) == ["a-fault"]
    assert paused.is_alive()

    # ...and its retry, from another worker process, finds it.
    retrying_worker = Sandbox(tmp_path / "sandbox.db")
    assert not retrying_worker.connector("refund").execute(CALL).applied
    retrying_worker.close()

    paused.join()
    assert [r.applied for r in results] == [True]
    assert list(sandbox.world_snapshot()["refunds"]) == ["a-fault"]
