"""The embedded stack of `cxgov up`: the Temporal dev server (cxgov.devserver), the worker, the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.duration_pb2 import Duration as DurationProto
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import Client

from cxgov.charter import Charter, CharterCache, LoadedCharter, read_charter
from cxgov.charter.registry import CharterRefused
from cxgov.charter.shadow import ShadowGate, ShadowLedger
from cxgov.client import CxgovClient
from cxgov.connection import connect
from cxgov.connectors import Systems, default_systems, load_systems
from cxgov.devserver import DevServer
from cxgov.errors import BadRequest, BindingError, CxgovError
from cxgov.notify import Notifier, load_routes
from cxgov.ownership import HomeLock
from cxgov.schedules import ensure_audit_schedules, sync_drill_schedules, trigger_drills
from cxgov.settings import Settings, shown_url
from worker import build_worker

if TYPE_CHECKING:
    from cxgov.api.serve import ApiServer
    from cxgov.identity import KeyStore

LOCAL_KEY_LIFETIME = timedelta(days=90)
"""The embedded stack's own keys; a restart issues new ones once these expire."""
NAMESPACE_RETENTION_DAYS = 30
"""Well above the archive's one-minute cadence, so a stopped archiver is seen long before history is lost."""


async def set_retention(client: Client, *, namespace: str, days: int) -> None:
    """Set the namespace's workflow history retention."""
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace,
            config=NamespaceConfig(workflow_execution_retention_ttl=DurationProto(seconds=days * 86400)),
        )
    )


def open_notifier(settings: Settings) -> Notifier | None:
    """The notifier of the notification file (`CXGOV_NOTIFY`), checked before anything connects; None when
    there is none (notifications are off: `gaps` says so).

    Raises:
        NotifyError: The file does not load (a bad URL, an unknown ${ENV}, a literal secret...).
    """
    if settings.notify_path is None:
        return None
    routes = load_routes(settings.notify_path)
    charters = CharterCache(settings.charter_path)
    return Notifier(
        routes,
        database_url=settings.audit_url,
        public_url=settings.public_url,
        members=lambda role: charters.get().active_members(role),
    )


def notifications_line(settings: Settings, notifier: Notifier | None) -> str:
    if notifier is None:
        return "off (set CXGOV_NOTIFY to a notification file to tell approvers where they work)"
    return f"{settings.notify_path}, links to {settings.public_url}"


def open_systems(settings: Settings, charter: Charter, *, seed: Path | None = None) -> Systems:
    """The systems of record serving the charter's actions, checked against it before anything connects.

    From the systems file (`CXGOV_SYSTEMS`), or with none, the built-in sandbox for every action (seeded from
    `seed` when given, else from the default seed when it is empty).

    Raises:
        SystemsError: The systems file does not load.
        BindingError: Actions and systems do not fit: one line per problem, each naming the action.
    """
    if settings.systems_path is not None:
        if seed is not None:
            raise BadRequest(
                f"--sandbox reseeds the built-in default system; with CXGOV_SYSTEMS={settings.systems_path}, "
                "give the sandbox system its seed under `options` in that file",
                field="sandbox",
            )
        systems = load_systems(settings.systems_path, home=settings.home)
    else:
        options = {"path": settings.sandbox_path, "seed": seed or settings.sandbox_seed, "reseed": seed is not None}
        systems = default_systems(actions=list(charter.actions), home=settings.home, options=options)
    problems = systems.problems(charter)
    if problems:
        systems.close()
        raise BindingError(problems)
    return systems


def issue_local_keys(settings: Settings, charter: Charter, keys: KeyStore) -> tuple[int, int]:
    """One key per actor and person of the charter in CXGOV_HOME/keys/<name> (0600), for the local operator.

    A key file that still proves its principal is kept; a missing, expired or revoked one is issued anew.
    Only the embedded stack does this: `cxgov serve` and `cxgov worker` issue nothing.
    """
    from cxgov.frontdoor import write_key

    now = datetime.now(UTC)
    issued = kept = 0
    names = [(name, False) for name in charter.actors] + [(name, True) for name in charter.people]
    for name, person in names:
        path = settings.keys_dir / name
        if path.is_file():
            found = keys.authenticate(path.read_text().strip(), now=now)
            if found is not None and found.name == name:
                kept += 1
                continue
        key = keys.issue(principal=name, kind="person" if person else "actor", expires_in=LOCAL_KEY_LIFETIME, now=now)
        write_key(settings.keys_dir, name, key.token, person=person)
        issued += 1
    return issued, kept


def worker_identity(settings: Settings) -> str:
    """`host/pid/task queue`: which worker loaded a charter, in the charter history."""
    return f"{socket.gethostname()}/{os.getpid()}/{settings.task_queue}"


def admit_charter(
    settings: Settings, loaded: LoadedCharter, *, embedded: bool, say: Callable[[str], None]
) -> Callable[[LoadedCharter], None]:
    """Check the charter before the worker connects to anything; the check for every later reload.

    A production worker (`cxgov worker`) refuses a charter whose declared sign-offs are not signed by the named
    people (`cxgov charter sign`), or whose version does not increase. The embedded stack (`cxgov up`), whose
    operator holds every local key anyway, signs the declared sign-offs itself first, and says so.

    Raises:
        CharterRefused: One line per problem, each naming the function, the person and the command to run.
    """
    from cxgov.charter.registry import EMBEDDED_SIGNER, CharterRegistry

    path = str(settings.charter_path)
    registry = CharterRegistry(settings.audit_url)
    try:
        if embedded:
            signed = registry.sign_declared(loaded, via=EMBEDDED_SIGNER, now=datetime.now(UTC))
            if signed:
                names = ", ".join(f"{s.function} ({s.person})" for s in signed)
                say(
                    f"charter sign-offs    signed now by the embedded operator for {names}; "
                    "a production worker (`cxgov worker`) needs each person's own `cxgov charter sign`"
                )
        problems = registry.problems(loaded, path=path)
    finally:
        registry.close()
    if problems:
        raise CharterRefused(problems, path=path)
    lock = threading.Lock()
    recorded: set[str] = set()

    def admit(candidate: LoadedCharter) -> None:
        with lock:
            if candidate.sha256 in recorded:
                return  # this worker checked and recorded this exact file already
            registry = CharterRegistry(settings.audit_url)
            try:
                registry.admit(candidate, path=path, worker=worker_identity(settings), now=datetime.now(UTC))
            finally:
                registry.close()
            recorded.add(candidate.sha256)

    return admit


async def _start_api(settings: Settings, client: Client) -> ApiServer:
    """The HTTP API beside the embedded worker, on CXGOV_HTTP_ADDRESS."""
    from cxgov.api.serve import ApiServer, gate_for
    from cxgov.identity.signing import load_signer

    signer = load_signer(settings.signing_key_path)
    front = CxgovClient(client, task_queue=settings.task_queue, charter_path=settings.charter_path, signer=signer)
    server = ApiServer(gate_for(settings, front), address=settings.http_address)
    await server.start()
    return server


async def serve(
    settings: Settings,
    *,
    seed: Path | None,
    say: Callable[[str], None],
    when_ready: Callable[[Client], Coroutine[Any, Any, None]] | None = None,
    embedded_server: bool = True,
    schedules: bool = True,
) -> None:
    """Run the stack until SIGINT/SIGTERM: dev server (if embedded), worker, and optionally a task when ready.

    With `schedules`, the audit schedules and the drill schedules are reconciled with the charter at start;
    with the embedded server, every drill also runs once at start, so a fresh stack earns autonomy quickly.
    The embedded stack holds CXGOV_HOME's lock first: a second `cxgov up` on the same home is refused before
    it changes anything (its sandbox, its keys, the dev server's database).

    Raises:
        Unavailable: Another `cxgov up` runs on this home, or the Temporal server cannot be started or reached.
    """
    lock = HomeLock(settings.home / "up.lock") if embedded_server else None
    if lock is not None:
        lock.acquire()
    try:
        await _serve(
            settings, seed=seed, say=say, when_ready=when_ready, embedded_server=embedded_server, schedules=schedules
        )
    finally:
        if lock is not None:
            lock.release()


async def _serve(
    settings: Settings,
    *,
    seed: Path | None,
    say: Callable[[str], None],
    when_ready: Callable[[Client], Coroutine[Any, Any, None]] | None,
    embedded_server: bool,
    schedules: bool,
) -> None:
    server = DevServer(settings) if embedded_server else None
    if server is not None:
        server.reclaim(say=say)
    loaded = read_charter(settings.charter_path)
    charter: Charter = loaded.charter
    systems = open_systems(settings, charter, seed=seed)
    try:
        notifier = open_notifier(settings)
        admit = admit_charter(settings, loaded, embedded=embedded_server, say=say)
    except CxgovError:
        systems.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        client = await server.start() if server is not None else await connect(settings)
        from cxgov.audit.store import AuditArchive
        from cxgov.budgets import BudgetLedger
        from cxgov.drills.ledger import DrillLedger
        from cxgov.killswitch import FreezeBook

        archive = AuditArchive(settings.audit_url)
        drills = DrillLedger(settings.audit_url)
        budgets = BudgetLedger(settings.audit_url)
        from cxgov.identity.signing import load_seal_secret, trusted_keys_of

        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            charter_path=settings.charter_path,
            systems=systems,
            trusted_keys=trusted_keys_of(setting=settings.trusted_keys_setting, signing_key=settings.signing_key_path),
            seal_secret=load_seal_secret(settings.worker_key_path),
            step_timeout_seconds=settings.activity_timeout,
            compensation_attempts=settings.compensation_attempts,
            archive=archive,
            drills=drills,
            drill_workspace=settings.home / "drills",
            budgets=budgets,
            notifier=notifier,
            shadow=ShadowGate(ShadowLedger(settings.audit_url)),
            freezes=FreezeBook(settings.audit_url),
            admit=admit,
        )
        if server is not None:
            say(f"Temporal dev server  {settings.temporal_address}  (history in {settings.home / 'temporal.db'})")
            say(f"Temporal UI          {settings.ui_address}")
        say(
            f"charter              {charter.charter} v{charter.version} ({settings.charter_path}, "
            f"sha256 {loaded.sha256[:12]})"
        )
        for line in systems.describe():
            say(f"systems of record    {line}")
        say(f"audit archive        {shown_url(settings.audit_url)}")
        say(f"notifications        {notifications_line(settings, notifier)}")
        async with worker:
            admit(loaded)  # recorded as loaded by this worker, now that it runs
            if server is not None:
                await set_retention(client, namespace=settings.namespace, days=NAMESPACE_RETENTION_DAYS)
                say(f"namespace retention  {NAMESPACE_RETENTION_DAYS} days ({settings.namespace})")
            if schedules:
                for change in await ensure_audit_schedules(client, task_queue=settings.task_queue):
                    say(f"schedules            {change}")
                for change in await sync_drill_schedules(client, charter, task_queue=settings.task_queue):
                    say(f"drill schedules      {change}")
            if server is not None:
                triggered = await trigger_drills(client, charter)
                say(f"reversal drills      started now: {', '.join(triggered)} (autonomy waits for a pass)")
            api = await _start_api(settings, client) if server is not None else None
            if api is not None:
                say(f"HTTP API             {api.url}  (docs {api.url}/docs; MCP for agents at {api.url}/mcp)")
                say(f"console              {api.url}/  (sign in with a person's key from {settings.keys_dir}/<name>)")
                issued, kept = issue_local_keys(settings, charter, api.gate.keys)
                say(
                    f"local keys           {issued} issued, {kept} kept in {settings.keys_dir} "
                    "(the CLI uses them for --actor/--as; holding a key file is being that principal)"
                )
            say(f"worker               polling task queue {settings.task_queue!r}; Ctrl-C stops")
            tour = asyncio.create_task(when_ready(client)) if when_ready is not None else None
            await stop.wait()
            if tour is not None and not tour.done():
                tour.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await tour
            if api is not None:
                await api.stop()
                api.gate.keys.close()
                say("stopped the HTTP API")
        say("stopped the worker")
        archive.close()
        drills.close()
        budgets.close()
        if notifier is not None:
            notifier.close()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if server is not None:
            server.stop()
            say("stopped the Temporal dev server")
        systems.close()
