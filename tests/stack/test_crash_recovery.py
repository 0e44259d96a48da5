"""`cxgov up` killed with SIGKILL, as the OOM killer or a closed terminal would: nothing it started outlives it,
and the next `cxgov up` on the same home resumes every action where it stood.

One kill catches an action at each stage at once: awaiting approval, on a ladder timer, mid-execute (its effect
committed, the connector paused before it answers) and mid-compensate (the undo committed, paused likewise).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import write_charter

from cxgov.devserver import DevServer
from cxgov.ownership import ServerPidFile, read_proof
from cxgov.settings import Settings

CXGOV = Path(sys.executable).parent / "cxgov"
READY_WITHIN = 90.0
STEP_TIMEOUT = "45s"
"""The refund ladder's step timeout in this test: longer than a kill and a restart take, so the timer fires after."""
ACTIVITY_TIMEOUT = 30
REFUND_LADDER = "approval: {ladder: [support-lead], step_timeout: 4h, on_timeout: deny}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return port if port < 64000 else free_port()  # the UI binds port + 1000


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def eventually(check: Callable[[], Any], *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {within:.0f}s: {what}"
        time.sleep(0.3)


class Up:
    """`cxgov up` on one home, in a process group of its own so that a test can kill the whole group."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.env = env
        self.log_path = tmp_path / "up.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self) -> None:
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CXGOV), "up"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self) -> str:
        """What this run printed (not the runs before it on the same log)."""
        return self.log_path.read_text(errors="replace")[self.offset :]

    def wait_ready(self) -> str:
        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.text()
            return "polling task queue" in self.text()

        eventually(ready, within=READY_WITHIN, what=f"`cxgov up` ready:\n{self.text()}")
        return self.text()

    def kill_group(self) -> None:
        """SIGKILL `cxgov up` and everything in its process group: no handler, no cleanup runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Up, dict[str, str], int]]:
    port, http_port = free_port(), free_port()
    charter = write_charter(tmp_path, (REFUND_LADDER, REFUND_LADDER.replace("4h", STEP_TIMEOUT)))
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")},
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "CXGOV_CHARTER": str(charter),
        "CXGOV_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
        # A killed worker's step is retried this long after it started: longer than the test takes to kill it.
        "CXGOV_ACTIVITY_TIMEOUT": str(ACTIVITY_TIMEOUT),
    }
    up = Up(tmp_path, env)
    try:
        yield up, env, port
    finally:
        up.stop()
        pid_file = ServerPidFile(tmp_path / "home" / "temporal.pid")
        recorded = pid_file.recorded()
        if recorded is not None and read_proof(recorded.pid) == recorded:
            os.kill(recorded.pid, signal.SIGKILL)  # only if a test failed before its own checks


def cxgov(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([str(CXGOV), *args, "--json"], env=env, capture_output=True, text=True, timeout=90)
    assert done.stdout, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def act(env: dict[str, str], action: str, action_id: str, **params: str) -> dict[str, Any]:
    pairs = [part for name, value in params.items() for part in ("-p", f"{name}={value}")]
    return cxgov(
        env,
        *("act", action, "--actor", "support-bot", "--customer", "C-100", "--channel", "chat"),
        *("--reason", "crash test", "--action-id", action_id, "--wait", "0", *pairs),
    )


def status(env: dict[str, str], action_id: str) -> dict[str, Any]:
    return cxgov(env, "status", action_id)


def effect_rows(env: dict[str, str], table: str, action_id: str, undone: str) -> list[tuple[int]]:
    """This action's effect rows in the sandbox file (read-only), each as (undone,)."""
    database = Path(env["CXGOV_HOME"]) / "sandbox.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        rows = connection.execute(f"SELECT {undone} FROM {table} WHERE action_id = ?", (action_id,)).fetchall()
    return [tuple(row) for row in rows]


def booked_seats(env: dict[str, str], clinic: str, slot: str) -> int:
    database = Path(env["CXGOV_HOME"]) / "sandbox.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        row = connection.execute(
            "SELECT booked FROM clinic_slots WHERE clinic = ? AND slot = ?", (clinic, slot)
        ).fetchone()
    return int(row[0])


def test_sigkill_at_every_stage_then_restart_resumes_each_action_exactly_once(
    home: tuple[Up, dict[str, str], int],
) -> None:
    up, env, port = home
    up.start()
    up.wait_ready()
    eventually(
        lambda: all(row["result"] == "passed" for row in cxgov(env, "drills", "list")["drills"]),
        within=90,
        what="the drills `up` started pass (refund and booking autonomy waits for them)",
    )
    server = ServerPidFile(Path(env["CXGOV_HOME"]) / "temporal.pid").recorded()
    assert server is not None and read_proof(server.pid) == server

    # Awaiting approval: one to approve after the restart, one left to its ladder timer.
    for action_id in ("action-crash-approve", "action-crash-timer"):
        assert act(env, "refund", action_id, order_id="O-1001", sku="JACKET-BLK-L", amount="120")
    for action_id in ("action-crash-approve", "action-crash-timer"):
        eventually(lambda a=action_id: status(env, a)["status"] == "awaiting_approval", within=30, what=action_id)
    waiting = status(env, "action-crash-timer")["pending"]
    assert (waiting["phase"], waiting["role"]) == (1, "support-lead")

    # Mid-execute: the refund's effect is committed, then its connector pauses before it answers.
    cxgov(env, "sandbox", "fault", "refund", "pause", "--delay", "300")
    # Mid-compensate: the booking's read-back fails, the saga undoes it, and that undo pauses once committed.
    cxgov(env, "sandbox", "fault", "book_appointment", "verify")
    cxgov(env, "sandbox", "fault", "book_appointment", "pause-compensate", "--delay", "300")
    assert act(env, "refund", "action-crash-execute", order_id="O-1001", sku="TEE-RED-M", amount="40")
    assert act(env, "book_appointment", "action-crash-compensate", clinic="north", slot="2026-12-01T09:00")
    eventually(
        lambda: effect_rows(env, "refunds", "action-crash-execute", "reversed") == [(0,)],
        within=20,
        what="the refund's effect is committed (its connector now pauses)",
    )
    eventually(
        lambda: effect_rows(env, "bookings", "action-crash-compensate", "cancelled") == [(1,)],
        within=20,
        what="the booking's undo is committed (its compensation now pauses)",
    )
    assert status(env, "action-crash-execute")["status"] == "executing"

    up.kill_group()

    # Nothing it started outlives it: the kernel killed the dev server with its parent, the ports are free.
    eventually(lambda: read_proof(server.pid) != server, within=10, what="the dev server died with `cxgov up`")
    # Its port closes when its last thread has gone, a moment after the process itself.
    http_port = int(env["CXGOV_HTTP_ADDRESS"].rsplit(":", 1)[1])
    eventually(lambda: not listening(port) and not listening(http_port), within=10, what="both ports are free")

    up.start()
    text = up.wait_ready()
    assert "already in use" not in text
    assert "unchanged drill-refund" in text and "created schedule" not in text, "schedules survive the restart"

    # In-flight effects resume and land exactly once.
    done = eventually(
        lambda: (s := status(env, "action-crash-execute"))["status"] == "completed" and s,
        within=ACTIVITY_TIMEOUT + 30,
        what="the paused refund completes after the restart",
    )
    assert effect_rows(env, "refunds", "action-crash-execute", "reversed") == [(0,)]
    assert [step["step"] for step in done["steps"]] == ["execute", "verify"]
    undone = eventually(
        lambda: (s := status(env, "action-crash-compensate"))["status"] != "executing" and s,
        within=ACTIVITY_TIMEOUT + 30,
        what="the paused compensation settles after the restart",
    )
    assert undone["status"] == "compensated", undone
    assert effect_rows(env, "bookings", "action-crash-compensate", "cancelled") == [(1,)]
    assert booked_seats(env, "north", "2026-12-01T09:00") == 1, "the seat was given back once, as seeded"

    # The pending approval survived, and is decided now.
    approved = cxgov(env, "approve", "action-crash-approve", "--as", "ana", "--reason", "checked", "--wait", "60")
    assert approved["status"] == "completed", approved
    assert effect_rows(env, "refunds", "action-crash-approve", "reversed") == [(0,)]

    # The ladder timer set before the kill fires after the restart: the step passes to the coverage role.
    escalated = eventually(
        lambda: (p := status(env, "action-crash-timer")["pending"]) and p["phase"] == 2 and p,
        within=90,
        what="the ladder timer escalates to the coverage role",
    )
    assert (escalated["role"], escalated["coverage_for"]) == ("duty-manager", "support-lead")


def test_next_up_stops_the_stale_server_its_home_started_and_refuses_a_second_up(
    home: tuple[Up, dict[str, str], int], tmp_path: Path
) -> None:
    """Where the kernel does not kill the child (not Linux, or a server started by an older cxgov), the pid file
    proves which survivor is this home's own, and the next start stops it."""
    up, env, port = home
    settings = Settings(home=Path(env["CXGOV_HOME"]), temporal_address=env["CXGOV_TEMPORAL_ADDRESS"])
    settings.home.mkdir(parents=True)
    orphan = DevServer(settings)
    survivor = subprocess.Popen(orphan.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        orphan.pid_file.record(survivor.pid)
        eventually(lambda: listening(port), within=60, what="the orphan dev server listens")

        up.start()
        text = up.wait_ready()
        assert f"stale dev server     stopped pid {survivor.pid}" in text
        assert survivor.wait(timeout=5) is not None

        second = subprocess.run([str(CXGOV), "up"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "another `cxgov up`" in second.stderr and f"pid {up.process.pid if up.process else ''}" in second.stderr
        assert up.process is not None and up.process.poll() is None, "the refused start left the first one alone"
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()


def test_a_port_held_by_a_process_this_home_did_not_start_is_named_not_killed(
    home: tuple[Up, dict[str, str], int],
) -> None:
    _, env, port = home
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        refused = subprocess.run([str(CXGOV), "up"], env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1, refused
        assert f"port {port} (the Temporal frontend) is already in use by a process this CXGOV_HOME did not start" in (
            refused.stderr
        )
        assert "Traceback" not in refused.stderr
