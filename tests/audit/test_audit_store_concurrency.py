"""Concurrent appends, from threads and from processes, make one unbroken chain with every run once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from cxgov.audit.store import AuditArchive

if TYPE_CHECKING:
    from conftest import Backend, RunMaker

THREADS = 8
RUNS_PER_THREAD = 12
ROOT = Path(__file__).resolve().parents[2]


def test_eight_threads_appending_at_once_make_one_chain(archive: AuditArchive, make_run: RunMaker) -> None:
    start = threading.Barrier(THREADS)

    def append(thread: int) -> int:
        start.wait()
        appended = 0
        for i in range(RUNS_PER_THREAD):
            run, records = make_run(thread * 100 + i, refusals=i % 3)
            appended += archive.append_run(run=run, records=records)
        return appended

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(append, range(THREADS))) == THREADS * RUNS_PER_THREAD

    expected = THREADS * sum(1 + i % 3 for i in range(RUNS_PER_THREAD))
    assert sorted(record.seq for record in archive.query()) == list(range(1, expected + 1))
    report = archive.verify()
    assert report.ok, report.problem
    assert report.checked == expected


def test_threads_racing_to_archive_the_same_runs_archive_each_once(archive: AuditArchive, make_run: RunMaker) -> None:
    start = threading.Barrier(THREADS)

    def append(_thread: int) -> int:
        start.wait()
        return sum(archive.append_run(run=make_run(n)[0], records=make_run(n)[1]) for n in range(20))

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(append, range(THREADS))) == 20

    assert archive.count() == 20
    assert archive.verify().ok


APPENDER = """
import sys
from datetime import UTC, datetime, timedelta
from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import ArchivedRun, AuditRecordBase

url, worker = sys.argv[1], int(sys.argv[2])
t0 = datetime(2026, 1, 1, tzinfo=UTC)
with AuditArchive(url) as archive:
    for i in range(10):
        run_id = f"p{worker}-{i}"
        run = ArchivedRun(run_id=run_id, workflow_id=run_id, workflow_type="ActionWorkflow",
                          closed_at=t0 + timedelta(minutes=i), archived_at=t0 + timedelta(hours=1), history="{}")
        record = AuditRecordBase(kind="action", time=t0 + timedelta(minutes=i), source=run_id, run_id=run_id,
                                 actor=f"agent-{worker}")
        assert archive.append_run(run=run, records=[record])
"""


def test_processes_appending_at_once_make_one_chain(backend: Backend) -> None:
    AuditArchive(backend.url).close()  # the tables exist before the race, as after `cxgov up`
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, backend.url, str(worker)], cwd=ROOT, env=environment)
        for worker in range(3)
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]

    with AuditArchive(backend.url) as archive:
        assert sorted(record.seq for record in archive.query()) == list(range(1, 31))
        assert {archive.count(actor=f"agent-{worker}") for worker in range(3)} == {10}
        assert archive.verify().ok
