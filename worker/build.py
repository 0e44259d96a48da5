"""Build the Worker with its dependencies, so tests can inject their own systems of record and charter."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import AuthorizeActivities, ConnectorActivities, ReversalActivities
from activities.drill import DrillActivities
from activities.notify import NotifyActivities
from cxgov.audit.failures import ArchiveFailures
from cxgov.budgets import BudgetLedger
from cxgov.charter import CharterCache, LoadedCharter
from cxgov.charter.shadow import ShadowGate
from cxgov.connectors import Systems
from cxgov.drills.ledger import DrillGate, DrillLedger
from cxgov.killswitch import FreezeBook
from cxgov.settings import COMPENSATION_ATTEMPTS
from workflows.action import ActionWorkflow
from workflows.audit import AuditArchiveWorkflow, AuditRetentionWorkflow
from workflows.drill import DrillWatchWorkflow, DrillWorkflow
from workflows.notice import NoticeWorkflow
from workflows.reversal import ReversalWorkflow

if TYPE_CHECKING:
    from cxgov.audit.store import AuditArchive
    from cxgov.notify import Notifier

ACTIVITY_THREADS = 16
ALL_WORKFLOWS: list[type] = [
    ActionWorkflow,
    ReversalWorkflow,
    DrillWorkflow,
    DrillWatchWorkflow,
    NoticeWorkflow,
    AuditArchiveWorkflow,
    AuditRetentionWorkflow,
]


class NotEnforced(enum.Enum):
    """The explicit opt-out of a ledger the worker enforces: `budgets=NOT_ENFORCED`, `drills=NOT_ENFORCED`."""

    NOT_ENFORCED = "not enforced"


NOT_ENFORCED = NotEnforced.NOT_ENFORCED
"""For tests and benchmarks that study something else: a worker with it does not enforce that ledger's rule
(budgets: rule 4; drill state: rule 5, and it runs no drills). Production workers always pass the real ledgers."""


class MissingLedger(ValueError):
    """`build_worker` was given neither a ledger nor the explicit opt-out: it fails closed instead of
    silently not enforcing budgets or drill state."""

    def __init__(self, missing: list[str]) -> None:
        wanted = {
            "budgets": "budgets=BudgetLedger(url) (grant budgets, rule 4)",
            "drills": "drills=DrillLedger(url) (drill state, rule 5, and the drills themselves)",
        }
        super().__init__(
            "build_worker refuses a worker without "
            + " and without ".join(wanted[name] for name in missing)
            + "; pass the ledger, or opt out explicitly with "
            + ", ".join(f"{name}=NOT_ENFORCED" for name in missing)
            + " (tests and benchmarks only)"
        )
        self.missing = missing


WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("cxgov", "pydantic", "pydantic_core")
)
"""cxgov's modules used inside workflows are side-effect free (wire models, snapshot comparison); passing them
through the sandbox loads them once per process instead of once per workflow run."""


def build_worker(
    client: Client,
    *,
    task_queue: str,
    charter_path: Path,
    systems: Systems,
    step_timeout_seconds: float = 10.0,
    compensation_attempts: int = COMPENSATION_ATTEMPTS,
    executor: ThreadPoolExecutor | None = None,
    archive: AuditArchive | None = None,
    drills: DrillLedger | NotEnforced | None = None,
    drill_workspace: Path | None = None,
    clock: Callable[[], datetime] | None = None,
    budgets: BudgetLedger | NotEnforced | None = None,
    trusted_keys: dict[str, str] | None = None,
    seal_secret: bytes | None = None,
    notifier: Notifier | None = None,
    shadow: ShadowGate | None = None,
    freezes: FreezeBook | None = None,
    admit: Callable[[LoadedCharter], None] | None = None,
) -> Worker:
    """A worker for every cxgov workflow and activity on `task_queue`.

    The client must come from `cxgov.connection.connect` (or `governed`), which sets the pydantic data converter
    and the tracing interceptor; the worker inherits both. `systems` says which system of record serves each
    action. With an `archive`, the worker also runs the audit archiver and the retention purge. `drills` is the
    drill ledger: the worker runs reversal drills (in each system's sandbox, with files under `drill_workspace`)
    and decisions take drill state into account (rule 5). `budgets` is the budget ledger grants' budgets are
    enforced with (rule 4). Both are required: a worker built without one of them is refused (`MissingLedger`)
    unless the caller opts out explicitly with `NOT_ENFORCED`. `clock` (UTC now) is what
    activities judge time by: recertification, reversal windows, drill age; tests pass their own. `trusted_keys` (key id -> base64 Ed25519 public key)
    are the cxgov servers whose signed requests and decisions count; without any, every request is denied
    (rule 0-unauthenticated). `seal_secret` seals each allowed call for the effect activities; workers sharing a
    task queue must share it (a random one per process by default). `notifier` tells people about approvals,
    expiries, failed undos and drills (None: notifications are off; the notify activity does nothing).
    `shadow` is where a shadow candidate charter is found, decided beside the live one without effect.
    `freezes` is the kill switch, read before every decision and again before an approved action executes
    (None: nothing is ever frozen; production workers always pass it).
    `compensation_attempts` is how many times the saga tries a compensation (see
    `Settings.compensation_attempts`).
    `admit` checks each charter file the worker loads while running (see `CharterCache`).
    """
    missing = [name for name, ledger in (("budgets", budgets), ("drills", drills)) if ledger is None]
    if missing:
        raise MissingLedger(missing)
    drill_ledger = None if isinstance(drills, NotEnforced) else drills
    budget_ledger = None if isinstance(budgets, NotEnforced) else budgets
    secret = seal_secret or secrets.token_bytes(32)
    now = clock or (lambda: datetime.now(UTC))
    charters = CharterCache(charter_path, admit=admit)
    gate = DrillGate(drill_ledger, clock=now) if drill_ledger is not None else None
    authorize = AuthorizeActivities(
        charters=charters,
        systems=systems,
        step_timeout_seconds=step_timeout_seconds,
        compensation_attempts=compensation_attempts,
        drills=gate,
        clock=now,
        budgets=budget_ledger,
        trusted_keys=trusted_keys,
        seal_secret=secret,
        shadow=shadow,
        freezes=freezes,
    )
    reversal = ReversalActivities(
        client=client,
        charters=charters,
        systems=systems,
        step_timeout_seconds=step_timeout_seconds,
        clock=now,
        trusted_keys=trusted_keys,
        seal_secret=secret,
    )
    connector = ConnectorActivities(systems=systems, seal_secret=secret, clock=now)
    pool = executor or ThreadPoolExecutor(max_workers=ACTIVITY_THREADS)
    activities: list[Callable[..., Any]] = [
        authorize.authorize,
        authorize.release_budget,
        authorize.frozen,
        connector.snapshot,
        connector.execute,
        connector.verify,
        connector.compensate,
        reversal.load_action,
        reversal.authorize_reversal,
    ]
    notify = NotifyActivities(notifier, client=client, clock=now)
    activities += [notify.start_notice, notify.notify]
    if drill_ledger is not None:
        if drill_workspace is None:
            raise ValueError("a worker that runs drills needs a drill_workspace for their files")
        drill = DrillActivities(
            charters=charters,
            systems=systems,
            ledger=drill_ledger,
            gate=gate,
            workspace_root=drill_workspace,
            step_timeout_seconds=step_timeout_seconds,
            clock=now,
        )
        activities += [drill.prepare, drill.step, drill.record, drill.overdue_notices]
    if archive is not None:
        from activities.audit import AuditActivities

        failures = ArchiveFailures(archive.url)
        audit = AuditActivities(client=client, archive=archive, charters=charters, clock=now, failures=failures)
        activities += [audit.archive_closed, audit.purge_expired]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=activities,
        activity_executor=pool,
        max_concurrent_activities=pool._max_workers,
    )
