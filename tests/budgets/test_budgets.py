"""Budgets (rule 4): a grant's rolling-window count and amount, reserved atomically, released when an action
ends without its effect."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from harness import CHARTER, SEED, TEST_SIGNER, TRUSTED
from temporalio.testing import WorkflowEnvironment

from cxgov.budgets import BudgetLedger
from cxgov.charter.models import Budget
from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.sandbox import Sandbox
from cxgov.wire import ActionState, Status
from worker import build_worker
from worker.build import NOT_ENFORCED

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = Budget(per=timedelta(days=1), count=3, amount=Decimal("100"))


@pytest.fixture
def ledger(tmp_path: Path) -> BudgetLedger:
    return BudgetLedger(f"sqlite:///{tmp_path / 'governance.db'}")


def reserve(ledger: BudgetLedger, action_id: str, amount: str, *, at: datetime = NOW) -> str | None:
    return ledger.reserve(
        action_id=action_id, actor="support-bot", action="refund", amount=Decimal(amount), budget=DAY, now=at
    )


def test_count_limit_in_the_rolling_window(ledger: BudgetLedger) -> None:
    assert [reserve(ledger, f"a{n}", "1") for n in range(3)] == [None, None, None]
    refusal = reserve(ledger, "a3", "1")
    assert refusal is not None and "taken 3 refund action(s) in the rolling 1d (limit 3)" in refusal
    assert reserve(ledger, "a4", "1", at=NOW + timedelta(days=1, seconds=1)) is None  # the window rolled on


def test_amount_limit_is_exact(ledger: BudgetLedger) -> None:
    assert reserve(ledger, "a1", "60.50") is None
    assert reserve(ledger, "a2", "39.50") is None
    refusal = reserve(ledger, "a3", "0.01")
    assert refusal is not None and "used 100.00 of 100" in refusal


def test_a_retried_reservation_counts_once_and_a_release_gives_it_back(ledger: BudgetLedger) -> None:
    assert reserve(ledger, "a1", "90") is None
    assert reserve(ledger, "a1", "90") is None  # authorize retried: the same reservation
    assert ledger.used(actor="support-bot", action="refund", budget=DAY, now=NOW) == (1, Decimal("90"))
    assert reserve(ledger, "a2", "20") is not None
    assert ledger.release(action_id="a1") is True
    assert ledger.release(action_id="a1") is False
    assert reserve(ledger, "a2", "20") is None


def test_concurrent_reservations_never_overspend(ledger: BudgetLedger) -> None:
    granted: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        if reserve(ledger, f"c{n}", "10") is None:
            with lock:
                granted.append(f"c{n}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3


async def test_the_worker_denies_over_budget_and_releases_what_did_not_happen(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    charter = tmp_path / "charter.yaml"
    text = CHARTER.read_text().replace("version: 3 ", "version: 4 ", 1)
    charter.write_text(text.replace("budget: {per: 1d, count: 300, amount: 5000}", "budget: {per: 1d, count: 2}", 1))
    box = Sandbox(tmp_path / "sandbox.db")
    box.load_world(seed=SEED)
    ledger = BudgetLedger(f"sqlite:///{tmp_path / 'governance.db'}")
    temporal = governed(dev_env.client)
    task_queue = f"test-budget-{uuid.uuid4()}"
    worker = build_worker(
        temporal,
        task_queue=task_queue,
        charter_path=charter,
        systems=Systems.serving(box),
        budgets=ledger,
        drills=NOT_ENFORCED,
        trusted_keys=TRUSTED,
    )
    client = CxgovClient(temporal, task_queue=task_queue, charter_path=charter, signer=TEST_SIGNER)

    async def refund(sku: str, amount: str) -> ActionState:
        request = client.request(
            actor="support-bot",
            action="refund",
            customer="C-100",
            channel="chat",
            reason="budget test",
            params={"order_id": "O-1001", "sku": sku, "amount": amount},
        )
        return await client.act(request, wait=20)

    async with worker:
        assert (await refund("TEE-RED-M", "10")).status == Status.COMPLETED
        box.add_fault(action="refund", step="verify")
        assert (await refund("TEE-RED-M", "10")).status == Status.COMPENSATED  # its share is given back
        assert (await refund("JACKET-BLK-L", "10")).status == Status.COMPLETED
        over = await refund("JACKET-BLK-L", "10")
        assert over.status == Status.DENIED
        assert over.decision is not None and over.decision.rule == "4-budget"
        assert "limit 2" in over.decision.reasons[-1]
    ledger.close()
    box.close()
