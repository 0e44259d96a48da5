"""A worker killed mid-action: the next worker finishes the action, and the effect lands exactly once.

The worker runs as a real `cxgov worker` process. A `pause` fault makes execute sleep after its effect is
committed, so the SIGKILL lands at the worst moment: refund written, activity not yet reported. The next worker
retries execute once the 3-second start-to-close timeout passes; the action id is the idempotency key.

Recovery takes about 15 s: the workflow task that follows the retried execute is first offered to the killed
worker's sticky queue and moves to the shared queue only after the SDK's 10 s sticky schedule-to-start timeout.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from action_kit import REFUND_TEE
from harness import CHARTER, SEED, eventually, sign_charter
from temporalio.testing import WorkflowEnvironment

from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.identity.signing import load_signer
from cxgov.sandbox import Sandbox
from cxgov.wire import DrillInput, Status
from workflows.drill import DrillWorkflow

CXGOV = Path(sys.executable).parent / "cxgov"


@contextmanager
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to add `cxgov worker` processes to; each one still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CXGOV), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def refund_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every refund row, reversed or not, read straight from the sandbox file."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT action_id, amount FROM refunds").fetchall()


async def test_killed_worker_mid_execute_leaves_exactly_one_refund(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    sandbox = Sandbox(home / "sandbox.db")
    sandbox.load_world(seed=SEED)  # `cxgov worker` keeps a world that is already there (and its faults)
    sandbox.add_fault(action="refund", step="pause", delay_seconds=30)
    task_queue = f"test-crash-{uuid.uuid4()}"
    env = {
        **os.environ,
        "CXGOV_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CXGOV_NAMESPACE": dev_env.client.namespace,
        "CXGOV_TASK_QUEUE": task_queue,
        "CXGOV_HOME": str(home),
        "CXGOV_CHARTER": str(CHARTER),
        "CXGOV_ACTIVITY_TIMEOUT": "3",
        "PYTHONUNBUFFERED": "1",
    }
    sign_charter(f"sqlite:///{home / 'audit.db'}")  # a production worker loads only a signed charter
    # `cxgov worker` trusts the key in its CXGOV_HOME; this client stands in for the HTTP server holding it.
    signer = load_signer(home / "signing.key")
    client = CxgovClient(governed(dev_env.client), task_queue=task_queue, charter_path=CHARTER, signer=signer)
    request = client.request(
        actor="support-bot", action="refund", customer="C-100", channel="chat", reason="crash test", params=REFUND_TEE
    )
    try:
        with worker_processes() as started:
            started.append(first := start_worker(env, tmp_path / "worker-1.log"))
            # `cxgov worker` gates autonomy on reversal drills (rule 5): the refund's undo must pass one first.
            drill = await client.client.execute_workflow(
                DrillWorkflow.run, DrillInput(action="refund"), id=f"drill-refund-{uuid.uuid4()}", task_queue=task_queue
            )
            assert drill.passed, drill
            await client.start(request)

            async def refunds() -> dict[str, Any]:
                found: dict[str, Any] = sandbox.world_snapshot()["refunds"]
                return found

            # The refund is committed and execute is asleep in the pause: now the worker dies.
            await eventually(refunds, lambda found: request.action_id in found, within=30, what="the refund lands")
            running = await client.status(request.action_id)
            assert running.status == Status.EXECUTING and running.steps == []
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL

            started.append(start_worker(env, tmp_path / "worker-2.log"))
            done = await client.wait_settled(request.action_id, wait=45)

        assert done.status == Status.COMPLETED, (done, (tmp_path / "worker-2.log").read_text())
        [execute, verify] = done.steps
        assert (execute.step, execute.ok, verify.step, verify.ok) == ("execute", True, "verify", True)
        assert "already recorded; not applied again" in execute.summary, "the retry found the killed attempt's refund"
        assert refund_rows(home / "sandbox.db") == [(request.action_id, "40")]
        assert list(sandbox.world_snapshot()["refunds"]) == [request.action_id]
    finally:
        sandbox.close()
