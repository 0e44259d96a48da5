"""`cxgov up` as a user runs it: the embedded dev server, worker, schedules, drills, retention, then Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import CHARTER
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

CXGOV = Path(sys.executable).parent / "cxgov"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return port if port < 64000 else free_port()  # the UI binds port + 1000


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CXGOV), *args], env=env, capture_output=True, text=True, timeout=60)


async def retention_days(address: str) -> float:
    client = await Client.connect(address)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    return described.config.workflow_execution_retention_ttl.seconds / 86400


def test_up_serves_governs_and_stops_cleanly(tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")},
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "CXGOV_CHARTER": str(CHARTER),
        "CXGOV_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
    }
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([str(CXGOV), "up"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while "polling task queue" not in text:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
            text = (tmp_path / "up.log").read_text()
        assert f"Temporal UI          http://127.0.0.1:{port + 1000}" in text
        assert "namespace retention  30 days" in text
        assert "charter sign-offs    signed now by the embedded operator for legal (dana), finance (farid)" in text
        assert "created drill-refund (every 30d)" in text and "created schedule audit-archive" in text
        assert asyncio.run(retention_days(f"127.0.0.1:{port}")) == 30

        # The drills `up` started earn autonomy: wait for them, then an allowed refund completes.
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(run(env, "drills", "list", "--json").stdout)["drills"]
            if all(row["result"] == "passed" for row in listed):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.5)
        acted = run(
            env,
            *("act", "refund", "--actor", "support-bot", "--customer", "C-100", "--channel", "chat"),
            *("--reason", "torn", "-p", "order_id=O-1001", "-p", "sku=TEE-RED-M", "-p", "amount=40"),
        )
        assert acted.returncode == 0, acted
        assert json.loads(acted.stdout)["status"] == "completed"

        # The HTTP API runs beside the worker: health without a credential, an action with a key.
        assert f"HTTP API             http://127.0.0.1:{http_port}" in text
        api = f"http://127.0.0.1:{http_port}"
        assert httpx.get(f"{api}/healthz").json() == {"ok": True, "temporal": True, "worker": True}
        token = json.loads(run(env, "keys", "issue", "--actor", "support-bot", "--json").stdout)["token"]
        body = {"action": "refund", "customer": "C-100", "channel": "chat", "reason": "torn", "params": {}}
        body["params"] = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "30"}
        answer = httpx.post(f"{api}/v1/actions", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert (answer.status_code, answer.json()["status"]) == (200, "completed"), answer.text
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
        log.close()
    text = (tmp_path / "up.log").read_text()
    assert code == 0, text
    assert "stopped the worker" in text and "stopped the Temporal dev server" in text
    assert "stopped the HTTP API" in text
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the dev server is still listening after Ctrl-C"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", http_port)) != 0, "the HTTP API is still listening after Ctrl-C"
