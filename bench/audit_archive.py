"""Audit archive speed: archive a million synthetic records, then pull one agent's last six months and
export everything.

The archive gets `--rows` records (default 1,000,000) spread evenly over the two years before now, in
archive order with a little jitter (as closed workflows arrive), among ~400 actors; every 49th record is
`support-bot`'s, so about 5,000 of its records fall in the last 180 days and about 15,000 before. They go
in through `AuditArchive.append_records` (the same hashing and chaining as `append_run`, 10,000 records
per transaction). Then, timed:

- `query(actor="support-bot", since=now - 180 days)`, fully consumed: three runs (the figure is the median);
- the real CLI, `cxgov audit --actor support-bot --since 180d --format csv > /dev/null`, as a subprocess with
  CXGOV_DATABASE_URL pointing at the archive (includes Python start-up and imports);
- a full CSV export of every record to /dev/null;
- with `--verify`, `verify()` over the whole chain.

Run: `.venv/bin/python -m bench.audit_archive [--rows 1000000] [--url sqlite:///...|postgresql://...]`.
Without `--url` the archive is a temporary SQLite file, deleted afterwards. A PostgreSQL URL should name
an empty database (or schema, via `?options=-csearch_path%3D<schema>`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase

TARGET_ACTOR = "support-bot"
TARGET_EVERY = 49
"""Every 49th record is the target actor's: ~2% of two years, so ~5,000 per million rows in 180 days."""
SPAN = timedelta(days=730)
WINDOW = timedelta(days=180)
ACTIONS = ("refund", "change_address", "cancel_order", "book_appointment", "share_customer_data")
STATUSES = ("completed", "completed", "completed", "denied", "awaiting_approval", "reversed", "compensated")
CHUNK = 10_000


def synthetic(rows: int, *, now: datetime, seed: int = 7) -> Iterator[AuditRecordBase]:
    """`rows` records over the two years before `now`, in archive order (close to time order)."""
    rng = random.Random(seed)
    start = now - SPAN
    step = SPAN / rows
    for n in range(rows):
        actor = TARGET_ACTOR if n % TARGET_EVERY == 0 else f"agent-{n % 397:03d}"
        action = ACTIONS[n % len(ACTIONS)]
        amount = rng.randint(1, 300)
        # model_construct: the generator's own records need no validation, and it would cost as much as hashing.
        yield AuditRecordBase.model_construct(
            kind="action",
            time=start + step * n + timedelta(seconds=rng.randint(0, 120)),
            source=f"bench-run-{n}",
            workflow_id=f"action-{n}",
            run_id=f"bench-run-{n}",
            action_id=f"a-{n}",
            actor=actor,
            actor_kind="ai_agent" if actor.endswith("bot") or n % 3 else "person",
            customer=f"C-{rng.randint(1, 50_000)}",
            action=action,
            params=f'{{"amount": "{amount}.00", "order_id": "O-{n}"}}',
            channel="chat",
            reason="customer reported the item arrived damaged",
            outcome="allow",
            rule="grant",
            reasons=f'["within the grant for {actor}"]',
            gap=False,
            charter_version=3,
            approvals="[]",
            status=STATUSES[n % len(STATUSES)],
            reversal_of=None,
            detail="{}",
        )


def _cli(url: str, *, home: Path) -> tuple[float, int]:
    """Seconds and output lines of the real `cxgov audit --actor support-bot --since 180d --format csv`."""
    binary = Path(sys.executable).with_name("cxgov")
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "cxgov.cli"]
    environment = {**os.environ, "CXGOV_DATABASE_URL": url, "CXGOV_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "audit", "--actor", TARGET_ACTOR, "--since", "180d", "--format", "csv"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cxgov audit failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, done.stdout.count("\n") - 1


def run(*, rows: int, url: str, home: Path, verify: bool) -> None:
    """Fill the archive and print the figures."""
    now = datetime.now(UTC)
    archive = AuditArchive(url)
    try:
        started = time.perf_counter()
        appended = archive.append_records(records=synthetic(rows, now=now), chunk_size=CHUNK)
        seconds = time.perf_counter() - started
        print(f"archived: {appended} records in {seconds:.1f} s")
        print(f"audit_append_rows_per_second: {appended / seconds:.0f}")

        since = now - WINDOW
        timings: list[float] = []
        matched = 0
        for _ in range(3):
            started = time.perf_counter()
            matched = sum(1 for _ in archive.query(actor=TARGET_ACTOR, since=since))
            timings.append(time.perf_counter() - started)
        print(f"query {TARGET_ACTOR} since 180d: {matched} rows; runs {', '.join(f'{t:.3f}' for t in timings)} s")
        print(f"audit_query_seconds: {statistics.median(timings):.3f}")

        cli_seconds, cli_rows = _cli(url, home=home)
        print(f"cli: cxgov audit --actor {TARGET_ACTOR} --since 180d --format csv: {cli_rows} rows")
        print(f"audit_cli_query_seconds: {cli_seconds:.3f}")

        started = time.perf_counter()
        with open(os.devnull, "w", newline="") as sink:
            exported = archive.export(records=archive.query(), format="csv", out=sink)
        seconds = time.perf_counter() - started
        print(f"export: {exported} rows as CSV in {seconds:.1f} s")
        print(f"audit_export_rows_per_second: {exported / seconds:.0f}")

        if verify:
            started = time.perf_counter()
            report = archive.verify()
            seconds = time.perf_counter() - started
            print(f"verify: ok={report.ok} checked={report.checked} in {seconds:.1f} s")
            print(f"audit_verify_rows_per_second: {report.checked / seconds:.0f}")
    finally:
        archive.close()


def main() -> None:
    """Parse flags and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="records to archive (default 1,000,000)")
    parser.add_argument("--url", default=None, help="archive URL (default: a temporary SQLite file)")
    parser.add_argument("--verify", action="store_true", help="also time verify() over the whole chain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxgov-audit-bench-") as scratch:
        home = Path(scratch)
        url = args.url or f"sqlite:///{home / 'audit.db'}"
        print(f"archive: {url.split('@')[-1]}")
        run(rows=args.rows, url=url, home=home, verify=args.verify)


if __name__ == "__main__":
    main()
