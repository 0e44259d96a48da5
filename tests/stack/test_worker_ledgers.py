"""A worker enforces grant budgets (rule 4) and drill state (rule 5) or is not built: a missing ledger fails
closed, and only an explicit NOT_ENFORCED (tests and benchmarks) leaves one out."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest
from harness import CHARTER, TRUSTED
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cxgov.budgets import BudgetLedger
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.drills.ledger import DrillLedger
from cxgov.sandbox import Sandbox
from worker import build_worker
from worker.build import NOT_ENFORCED, MissingLedger

ROOT = Path(__file__).resolve().parents[2]


def build(env: WorkflowEnvironment, sandbox: Sandbox, **ledgers: Any) -> Worker:
    return build_worker(
        governed(env.client),
        task_queue=f"test-ledgers-{uuid.uuid4()}",
        charter_path=CHARTER,
        systems=Systems.serving(sandbox),
        trusted_keys=TRUSTED,
        **ledgers,
    )


def test_a_worker_without_ledgers_or_an_opt_out_is_refused(dev_env: WorkflowEnvironment, sandbox: Sandbox) -> None:
    with pytest.raises(MissingLedger) as both:
        build(dev_env, sandbox)
    with pytest.raises(MissingLedger) as drills_only:
        build(dev_env, sandbox, budgets=NOT_ENFORCED)
    with pytest.raises(MissingLedger) as budgets_only:
        build(dev_env, sandbox, drills=NOT_ENFORCED, drill_workspace=None)

    assert both.value.missing == ["budgets", "drills"]
    assert str(both.value) == (
        "build_worker refuses a worker without budgets=BudgetLedger(url) (grant budgets, rule 4) and without "
        "drills=DrillLedger(url) (drill state, rule 5, and the drills themselves); pass the ledger, or opt out "
        "explicitly with budgets=NOT_ENFORCED, drills=NOT_ENFORCED (tests and benchmarks only)"
    )
    assert drills_only.value.missing == ["drills"]
    assert "drills=DrillLedger(url)" in str(drills_only.value) and "BudgetLedger" not in str(drills_only.value)
    assert budgets_only.value.missing == ["budgets"]
    assert "budgets=NOT_ENFORCED" in str(budgets_only.value) and "DrillLedger" not in str(budgets_only.value)


async def test_real_ledgers_or_the_explicit_opt_out_build_a_worker(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'governance.db'}"
    budgets, drills = BudgetLedger(url), DrillLedger(url)
    try:
        enforced = build(dev_env, sandbox, budgets=budgets, drills=drills, drill_workspace=tmp_path / "drills")
        opted_out = build(dev_env, sandbox, budgets=NOT_ENFORCED, drills=NOT_ENFORCED)
    finally:
        budgets.close()
        drills.close()

    assert isinstance(enforced, Worker) and isinstance(opted_out, Worker)


def test_no_production_path_opts_out() -> None:
    """Only tests and benchmarks say NOT_ENFORCED; every build_worker call in the product passes both ledgers."""
    calls = 0
    for package in ("cxgov", "workflows", "activities"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text()
            assert "NOT_ENFORCED" not in source, f"{path.relative_to(ROOT)} opts out of a ledger"
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "build_worker":
                    calls += 1
                    given = {keyword.arg for keyword in node.keywords}
                    assert {"budgets", "drills"} <= given, f"{path.relative_to(ROOT)}: build_worker without a ledger"
    assert calls >= 1, "cxgov/stack.py builds the production worker"
