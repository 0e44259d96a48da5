"""The example shop (examples/shop) as real processes for the connector tests: a live and a sandbox instance."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
TOKEN = "shop-connector-test-token"
START_TIMEOUT = 15.0


@dataclass
class Shop:
    """One running shop process, reached over HTTP with its bearer token."""

    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, data: Path) -> Shop:
        """Start a shop on a free loopback port with its database at `data`."""
        env = {**os.environ, "SHOP_TOKEN": TOKEN}
        log = data.with_suffix(".log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.shop", "--data", str(data), "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        log.close()
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("shop listening on http://"):
            stop_process(process)
            raise RuntimeError(f"the shop did not start: {line!r}")
        return cls(process=process, url=line.removeprefix("shop listening on ").strip())

    def stop(self) -> None:
        stop_process(self.process)

    def request(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if method != "GET" and not path.startswith("/admin/"):
            headers["Idempotency-Key"] = key or f"test-{uuid.uuid4()}"
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=10)

    def get(self, path: str) -> Any:
        answer = self.request("GET", path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def new_order(self, *, customer: str = "C-100", sku: str = "MUG-BLUE", price: str = "100") -> str:
        """A fresh order of one line; its id."""
        answer = self.request("POST", "/orders", {"customer": customer, "lines": [{"sku": sku, "price": price}]})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def writes(self) -> list[dict[str, Any]]:
        """Every write the shop received, in order (its own log)."""
        return list(self.get("/admin/log")["writes"])

    def fault(self, *, path_prefix: str, status: int | None = None, delay: float | None = None) -> None:
        """The next request under `path_prefix` fails with `status` (or waits `delay` seconds first)."""
        spec: dict[str, Any] = {"path_prefix": path_prefix, "times": 1}
        if status is not None:
            spec["status"] = status
        if delay is not None:
            spec["delay_seconds"] = delay
        answer = self.request("POST", "/admin/faults", spec)
        assert answer.status_code == 200, answer.text


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """Stop a child by its process id: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
