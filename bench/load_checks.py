"""The checks after a `bench.load` run: every accepted action settled exactly once, archived exactly once,
budgets and effects counted exactly, and bad input left no trace.

Read from the real stores, never from the bench's own bookkeeping: Temporal visibility (runs per action id),
the HTTP API (each action's status, decision and approvals, as its requester sees it), the audit archive
after the audit-archive workflow and a full re-sync, the budget ledger's rows, and the sandbox's world.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from temporalio.client import WorkflowExecutionStatus

from cxgov.audit.store import AuditArchive
from cxgov.audit.sync import sync_closed
from cxgov.budgets import RELEASED, RESERVED, BudgetLedger
from cxgov.wire import ArchiveInput, Status
from workflows.audit import AuditArchiveWorkflow

if TYPE_CHECKING:
    from bench.load import Answer, FrontDoor

TERMINAL = frozenset(
    {Status.COMPLETED, Status.DENIED, Status.EXPIRED, Status.COMPENSATED, Status.COMPENSATION_FAILED, Status.FAILED}
)
"""Where an action ends (reversed and reversal_failed come only after a reversal, which the load never asks)."""
READS_IN_FLIGHT = 32
EXAMPLES = 3


@dataclass
class BudgetCount:
    """One budgeted (actor, action): what the ledger holds against what completed."""

    actor: str
    action: str
    rows: int
    """Reservations in the ledger (released or not)."""
    shares: int
    consumed: Decimal
    """Unreleased shares in the window and their amount (`BudgetLedger.used`)."""
    completed: int
    completed_amount: Decimal
    strays: int
    """Ledger rows whose action did not complete."""

    @property
    def exact(self) -> bool:
        return (self.rows, self.shares, self.consumed, self.strays) == (
            self.completed,
            self.completed,
            self.completed_amount,
            0,
        )

    def line(self) -> str:
        verdict = "exact" if self.exact else "MISMATCH"
        return (
            f"budget {self.actor}/{self.action}: ledger {self.shares} shares ({self.rows} reserved), {self.consumed} "
            f"consumed; completed {self.completed} refunds totalling {self.completed_amount}: {verdict}"
        )


@dataclass
class Checks:
    """What the checks found; `lost` and `failures` empty means the run is good."""

    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Accepted action id -> its full status JSON from `GET /v1/actions/{id}`."""
    runs: dict[str, int] = field(default_factory=dict)
    """Action workflow id -> runs seen on the task queue."""
    lost: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    archived: dict[str, int] = field(default_factory=dict)
    """Accepted action id -> its `action` records in the archive."""
    archive_passes: int = 0
    resynced: int = 0
    chain: str = ""
    budgets: list[BudgetCount] = field(default_factory=list)
    effects: str = ""
    bad_traces: int = 0

    def status_of(self, answer: Answer) -> str | None:
        found = self.statuses.get(answer.planned.action_id)
        return None if found is None else str(found.get("status"))

    def lines(self) -> list[str]:
        accepted = len(self.statuses)
        once = sum(1 for n in self.archived.values() if n == 1)
        lines = [
            f"runs: {accepted} accepted, {sum(self.runs.values())} action runs on the task queue, "
            f"{sum(1 for n in self.runs.values() if n > 1)} ids run more than once",
            f"archive: {once} of {len(self.archived)} accepted actions archived exactly once after "
            f"{self.archive_passes} audit-archive pass(es); full re-sync archived {self.resynced} more; {self.chain}",
            *(budget.line() for budget in self.budgets),
            f"effects: {self.effects}",
            f"bad input: {self.bad_traces} traces (workflows, archive records, budget shares, effects)",
        ]
        if self.lost:
            lines.append(f"lost ({len(self.lost)}): {'; '.join(self.lost[:EXAMPLES])}")
        lines.append(f"checks: {'all passed' if not self.failures else f'{len(self.failures)} FAILED'}")
        lines += [f"  FAILED {failure}" for failure in self.failures]
        return lines


async def run_checks(http: httpx.AsyncClient, door: FrontDoor, answers: list[Answer], *, timeout: float) -> Checks:
    """Every check, in order: runs and statuses, answers against the plan, archive, budgets, effects."""
    checks = Checks()
    accepted = [answer for answer in answers if answer.accepted]
    bad = {answer.planned.action_id for answer in answers if answer.planned.kind == "bad_input"}
    checks.runs = await _settled_runs(door, {a.planned.action_id for a in accepted}, timeout=timeout)
    checks.statuses = await _statuses(http, door, accepted)
    _check_lost(checks, accepted)
    _check_answers(checks, answers)
    extra = set(checks.runs) - {answer.planned.action_id for answer in accepted}
    if extra:
        checks.failures.append(f"{len(extra)} action workflow(s) ran that the API did not accept: {sorted(extra)[:3]}")
    checks.bad_traces += len(extra & bad)
    await _check_archive(checks, door, accepted, bad, timeout=timeout)
    _check_budgets(checks, door, answers, bad)
    _check_effects(checks, door, answers, bad)
    return checks


async def _settled_runs(door: FrontDoor, accepted: set[str], *, timeout: float) -> dict[str, int]:
    """Runs per action id on the task queue, once none is running and every accepted id is visible (or at the
    deadline: visibility lags results)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    query = f'WorkflowType = "action" AND TaskQueue = "{door.task_queue}"'
    while True:
        runs: Counter[str] = Counter()
        running = 0
        async for execution in door.client.list_workflows(query):
            runs[execution.id] += 1
            running += execution.status == WorkflowExecutionStatus.RUNNING
        if (not running and accepted <= set(runs)) or loop.time() > deadline:
            return dict(runs)
        await asyncio.sleep(0.5)


async def _statuses(http: httpx.AsyncClient, door: FrontDoor, accepted: list[Answer]) -> dict[str, dict[str, Any]]:
    """Each accepted action's full status through the API, read with its requester's key."""
    room = asyncio.Semaphore(READS_IN_FLIGHT)
    found: dict[str, dict[str, Any]] = {}

    async def read(answer: Answer) -> None:
        action_id = answer.planned.action_id
        async with room:
            try:
                reply = await http.get(f"/v1/actions/{action_id}", headers=door.auth(answer.planned.principal))
                body = reply.json()
            except (httpx.HTTPError, ValueError) as err:
                body = {"status": None, "error": f"{type(err).__name__}: {err}"}
            else:
                if reply.status_code != 200:
                    body = {"status": None, "error": f"http {reply.status_code}: {body}"}
        found[action_id] = body

    await asyncio.gather(*(read(answer) for answer in accepted))
    return found


def _check_lost(checks: Checks, accepted: list[Answer]) -> None:
    for answer in accepted:
        action_id = answer.planned.action_id
        runs = checks.runs.get(action_id, 0)
        status = checks.statuses[action_id].get("status")
        if runs == 0:
            checks.lost.append(f"{action_id}: accepted but no workflow ran")
        elif runs > 1:
            checks.lost.append(f"{action_id}: ran {runs} times")
        elif status not in TERMINAL:
            detail = checks.statuses[action_id].get("error") or status
            checks.lost.append(f"{action_id}: not terminal ({detail})")


def _check_answers(checks: Checks, answers: list[Answer]) -> None:
    """Each answer against its plan: HTTP code, final status, deciding rule, and for escalations who approved."""
    problems: Counter[str] = Counter()
    examples: dict[str, str] = {}

    def fail(kind: str, example: str) -> None:
        problems[kind] += 1
        examples.setdefault(kind, example)

    for answer in answers:
        planned = answer.planned
        if planned.kind == "bad_input":
            if answer.http != planned.expect_http or not (answer.body or {}).get("error"):
                fail(
                    f"bad input {planned.variant} not refused with {planned.expect_http}",
                    f"{answer.http} {answer.body}",
                )
            continue
        if not answer.accepted:
            fail(f"valid {planned.kind} request not accepted", f"{answer.http or answer.error} {answer.body}")
            continue
        state = checks.statuses[planned.action_id]
        rule = (state.get("decision") or {}).get("rule")
        if (state.get("status"), rule) != (planned.expect_status, planned.expect_rule):
            fail(
                f"{planned.kind} {planned.variant} ended otherwise than planned",
                f"{planned.action_id}: {state.get('status')} by {rule}, planned {planned.expect_status} by "
                f"{planned.expect_rule}",
            )
        if planned.kind != "escalated":
            continue
        approved = [
            record
            for record in state.get("approvals", [])
            if record.get("accepted") and record.get("verdict") == "approve"
        ]
        if [record.get("person") for record in approved] != [planned.approver]:
            fail("escalated action not approved once by its eligible approver", f"{planned.action_id}: {approved}")
        eligible = answer.eligible or []
        if planned.approver not in eligible or planned.principal in eligible:
            fail("approvals listing named the wrong people", f"{planned.action_id}: eligible {eligible}")
    checks.failures += [f"{kind}: {n} (e.g. {examples[kind]})" for kind, n in problems.items()]


async def _check_archive(
    checks: Checks, door: FrontDoor, accepted: list[Answer], bad: set[str], *, timeout: float
) -> None:
    """Run the audit-archive workflow (what its schedule runs) until every accepted action is in, then a full
    `cxgov audit sync`, which must find nothing new; count records per action id and verify the chain."""
    wanted = {answer.planned.action_id for answer in accepted}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    archive = AuditArchive(door.settings.audit_url)
    try:
        while True:
            checks.archive_passes += 1
            await door.client.execute_workflow(
                AuditArchiveWorkflow.run,
                ArchiveInput(),
                id=f"audit-archive-load-{uuid.uuid4().hex[:12]}",
                task_queue=door.task_queue,
            )
            records = await asyncio.to_thread(lambda: list(archive.query()))
            present = {r.action_id for r in records if r.kind == "action"}
            if present >= wanted or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        report = await sync_closed(door.client, archive, full=True)
        checks.resynced = report.archived
        records = await asyncio.to_thread(lambda: list(archive.query()))
        chain = await asyncio.to_thread(archive.verify)
    finally:
        archive.close()
    actions = Counter(r.action_id or "" for r in records if r.kind == "action")
    checks.archived = {action_id: actions.get(action_id, 0) for action_id in wanted}
    checks.chain = f"chain {'intact' if chain.ok else 'BROKEN: ' + str(chain.problem)} ({chain.checked} records)"
    archived_status = {r.action_id: r.status for r in records if r.kind == "action"}
    wrong = [i for i in wanted if checks.archived[i] == 1 and archived_status[i] != checks.statuses[i].get("status")]
    not_once = {i: n for i, n in checks.archived.items() if n != 1}
    if not_once:
        checks.failures.append(
            f"archive: {len(not_once)} accepted action(s) not archived exactly once, e.g. {_few(not_once)}"
        )
    if wrong:
        checks.failures.append(f"archive: {len(wrong)} record(s) with another status than the API's, e.g. {wrong[:3]}")
    if report.archived or report.failed:
        checks.failures.append(f"archive: a full re-sync archived {report.archived} more, {len(report.failed)} failed")
    if not chain.ok:
        checks.failures.append(f"archive: {checks.chain}")
    traces = sum(1 for r in records if r.action_id in bad)
    checks.bad_traces += traces
    if traces:
        checks.failures.append(f"archive: {traces} record(s) of bad input")


def _check_budgets(checks: Checks, door: FrontDoor, answers: list[Answer], bad: set[str]) -> None:
    """Per budgeted (actor, action): the ledger's shares (`budget_reserved` records on the audit chain, none
    released) are exactly the completed actions', each with its amount, and `BudgetLedger.used` sums to theirs."""
    charter, now = door.charter, datetime.now(UTC)
    archive = AuditArchive(door.settings.audit_url)
    ledger = BudgetLedger(door.settings.audit_url)
    try:
        reserved = list(archive.query(kind=RESERVED))
        released = {record.action_id for record in archive.query(kind=RELEASED)}
        pairs = {(a.planned.principal, a.planned.action) for a in answers}
        for actor, action in sorted(pairs):
            person = charter.people.get(actor)
            grant = charter.grant_for(actor=actor, roles=person.roles if person else [], action=action)
            if grant is None or grant.budget is None:
                continue
            completed = {
                a.planned.action_id: a.planned.amount or Decimal(0)
                for a in answers
                if (a.planned.principal, a.planned.action) == (actor, action)
                and a.accepted
                and checks.statuses[a.planned.action_id].get("status") == Status.COMPLETED
            }
            mine = [record for record in reserved if (record.actor, record.action) == (actor, action)]
            shares, consumed = ledger.used(actor=actor, action=action, budget=grant.budget, now=now)
            count = BudgetCount(
                actor=actor,
                action=action,
                rows=len(mine),
                shares=shares,
                consumed=consumed,
                completed=len(completed),
                completed_amount=sum(completed.values(), Decimal(0)),
                strays=sum(1 for record in mine if _stray(record.action_id, record.detail, completed, released)),
            )
            checks.budgets.append(count)
            if not count.exact:
                checks.failures.append(count.line())
    finally:
        ledger.close()
        archive.close()
    traces = sum(1 for record in reserved if record.action_id in bad)
    checks.bad_traces += traces
    if traces:
        checks.failures.append(f"budgets: {traces} share(s) reserved for bad input")


def _stray(action_id: str | None, detail: str, completed: dict[str, Decimal], released: set[str | None]) -> bool:
    """A share that is not exactly a completed action's: another action, released, or another amount."""
    if action_id not in completed or action_id in released:
        return True
    return Decimal(json.loads(detail).get("amount", "0")) != completed[action_id]


def _check_effects(checks: Checks, door: FrontDoor, answers: list[Answer], bad: set[str]) -> None:
    """The sandbox holds exactly the completed refunds (each with its amount) and bookings, nothing else."""
    world = door.sandbox.world_snapshot()
    done = {a.planned.action_id: a for a in answers if checks.status_of(a) == Status.COMPLETED}
    planned_refunds = {i: str(a.planned.amount) for i, a in done.items() if a.planned.action == "refund"}
    planned_bookings = {i for i, a in done.items() if a.planned.action == "book_appointment"}
    refunds = {i: str(Decimal(r["amount"])) for i, r in world["refunds"].items()}
    bookings = set(world["bookings"])
    refunds_ok = refunds == {i: str(Decimal(v)) for i, v in planned_refunds.items()}
    if not refunds_ok:
        checks.failures.append(
            f"effects: sandbox refunds differ from the completed refunds: {_diff(refunds, planned_refunds)}"
        )
    if bookings != planned_bookings:
        checks.failures.append(f"effects: {len(bookings ^ planned_bookings)} booking(s) differ from the completed ones")
    checks.effects = (
        f"sandbox holds {len(refunds)} refunds totalling {sum((Decimal(v) for v in refunds.values()), Decimal(0))} "
        f"and {len(bookings)} bookings: {'exactly the completed ones' if refunds_ok and bookings == planned_bookings else 'MISMATCH'}"
    )
    checks.bad_traces += len((set(refunds) | bookings) & bad)


def _few(found: dict[str, int]) -> str:
    return ", ".join(f"{key} x{n}" for key, n in list(found.items())[:EXAMPLES])


def _diff(held: dict[str, str], planned: dict[str, str]) -> str:
    extra = sorted(set(held) - set(planned))[:EXAMPLES]
    missing = sorted(set(planned) - set(held))[:EXAMPLES]
    changed = sorted(i for i in set(held) & set(planned) if held[i] != str(Decimal(planned[i])))[:EXAMPLES]
    return f"extra {extra}, missing {missing}, other amount {changed}"
