"""The front door's cost: governed actions through the HTTP API against the same actions through the Python
client, on one Temporal dev server, one worker and one API server, in the same run.

- client: `CxgovClient.request` + `act(wait=30)`, signed with the front door's key (what the API does inside);
- api: `POST /v1/actions` with `wait` 30 and support-bot's key, to a uvicorn server in this process: the
  same call plus HTTP, the credential check against the key store, and JSON.

Both book clinic appointments (allowed without approval); every action must end `completed`. Rounds alternate
the order. Prints `api_ratio:` (API actions per second / client actions per second).

Run: `.venv/bin/python -m bench.api [--count 300] [--concurrency 30] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.keys import SIGNER, TRUSTED
from bench.throughput import (
    CHARTER,
    CLINIC,
    CUSTOMERS,
    SLOT,
    WARM_UP,
    Measurement,
    dev_server,
    measure,
    write_seed,
)
from cxgov.api import Gate
from cxgov.api.serve import ApiServer
from cxgov.charter import CharterCache
from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.identity import KeyStore
from cxgov.sandbox import Sandbox
from cxgov.settings import Settings
from worker import build_worker
from worker.build import NOT_ENFORCED


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300, help="timed actions per mode and round")
    parser.add_argument("--concurrency", type=int, default=30, help="actions in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; even rounds go through the API first")
    args = parser.parse_args()

    env = await dev_server()
    print(
        f"{os.cpu_count()} CPUs; {args.count} actions per mode and round at concurrency {args.concurrency}", flush=True
    )
    totals = {"client": Measurement("client"), "api": Measurement("api")}
    task_queue = f"bench-api-{uuid.uuid4()}"
    temporal = governed(env.client)
    cx = CxgovClient(temporal, task_queue=task_queue, charter_path=CHARTER, signer=SIGNER)
    try:
        with tempfile.TemporaryDirectory(prefix="cxgov-bench-api-") as tmp:
            home = Path(tmp)
            write_seed(home / "seed.yaml", capacity=100_000)
            sandbox = Sandbox(home / "sandbox.db")
            sandbox.load_world(seed=home / "seed.yaml")
            keys = KeyStore(f"sqlite:///{home / 'audit.db'}")
            token = keys.issue(principal="support-bot", kind="actor", expires_in=None, now=datetime.now(UTC)).token
            gate = Gate(client=cx, keys=keys, charters=CharterCache(CHARTER), settings=Settings(home=home))
            server = ApiServer(gate, address="127.0.0.1:0")
            worker = build_worker(
                temporal,
                task_queue=task_queue,
                charter_path=CHARTER,
                systems=Systems.serving(sandbox),
                trusted_keys=TRUSTED,
                drills=NOT_ENFORCED,
                budgets=NOT_ENFORCED,
            )
            async with worker:
                url = await server.start()
                limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
                http = httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits
                )

                def body(n: int) -> dict[str, object]:
                    return {
                        "action": "book_appointment",
                        "customer": CUSTOMERS[n % len(CUSTOMERS)],
                        "channel": "chat",
                        "reason": "api benchmark",
                        "params": {"clinic": CLINIC, "slot": SLOT},
                        "wait": 30,
                    }

                async def through_client(n: int) -> str:
                    fields = body(n)
                    request = cx.request(
                        actor="support-bot",
                        action=str(fields["action"]),
                        customer=str(fields["customer"]),
                        channel="chat",
                        reason="api benchmark",
                        params={"clinic": CLINIC, "slot": SLOT},
                    )
                    return (await cx.act(request, wait=30)).status.value

                async def through_api(n: int) -> str:
                    answer = await http.post("/v1/actions", json=body(n))
                    return str(answer.json().get("status", f"http {answer.status_code}"))

                modes = {"client": through_client, "api": through_api}
                for mode, one in modes.items():
                    await measure(mode, one, count=WARM_UP, concurrency=args.concurrency, first=0)
                for index in range(args.rounds):
                    order = ["api", "client"] if index % 2 == 0 else ["client", "api"]
                    for mode in order:
                        batch = await measure(
                            mode, modes[mode], count=args.count, concurrency=args.concurrency, first=WARM_UP
                        )
                        print(batch.line(f"round {index + 1}"), flush=True)
                        totals[mode].add(batch)
                await http.aclose()
                await server.stop()
            keys.close()
            sandbox.close()
    finally:
        await env.shutdown()

    client_total, api_total = totals["client"], totals["api"]
    print(client_total.line("all rounds"))
    print(api_total.line("all rounds"))
    for total in (client_total, api_total):
        if total.statuses.get("completed", 0) != len(total.latencies):
            print(f"not every {total.mode} action completed: figures invalid")
            return 1
    print(f"api_ratio: {api_total.per_second / client_total.per_second:.2f}")
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)
