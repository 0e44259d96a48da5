"""`cxgov serve` as an operator runs it: the API alone in front of a running worker, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from cli.clikit import CXGOV, child_env, cxgov_env, run_subprocess
from harness import Stack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while text not in (seen := log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, seen
        time.sleep(0.1)
    return seen


async def test_serve_answers_for_the_worker_and_stops_on_ctrl_c(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    address = stack.temporal.service_client.config.target_host
    settings = cxgov_env(home=tmp_path, address=address, task_queue=stack.task_queue, charter=stack.charter_path)
    env = child_env({**settings, "CXGOV_HTTP_ADDRESS": f"127.0.0.1:{port}"})
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        served = subprocess.Popen([str(CXGOV), "serve"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        text = await asyncio.to_thread(wait_for, log, "serving; Ctrl-C stops", served)
        assert f"HTTP API             http://127.0.0.1:{port}" in text
        token = (await asyncio.to_thread(run_subprocess, "keys", "issue", "--person", "ana", "--json", env=env)).json()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).json() == {"ok": True, "temporal": True, "worker": True}
            assert (await http.get("/v1/approvals")).status_code == 401
            answer = await http.get("/v1/approvals", headers={"Authorization": f"Bearer {token['token']}"})
            assert (answer.status_code, answer.json()) == (200, {"pending": [], "unreadable": []})
    finally:
        served.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(served.wait, 30)
    assert code == 0, log.read_text()
    assert "stopped the HTTP API" in log.read_text()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


async def test_serve_refuses_an_address_that_is_not_host_port(tmp_path: Path) -> None:
    env = child_env({"CXGOV_HOME": str(tmp_path), "CXGOV_HTTP_ADDRESS": "everywhere"})
    done = await asyncio.to_thread(run_subprocess, "serve", env=env)
    assert done.code == 2 and done.one_error_line() == "cxgov: CXGOV_HTTP_ADDRESS='everywhere' is not host:port"
