"""Exports stream: a 200,000-row export keeps Python's memory bounded, in either format."""

from __future__ import annotations

import os
import tracemalloc
from typing import TYPE_CHECKING

import pytest

from cxgov.audit.store import AuditArchive, ExportFormat

if TYPE_CHECKING:
    from conftest import Backend

ROWS = 200_000
PEAK_LIMIT = 50 * 1024 * 1024
COLUMNS = (
    "seq, kind, time, source, run_id, actor, customer, action, params, reason, reasons, approvals, detail, gap, "
    "status, prev_hash, hash"
)
# The database makes the rows itself (this test is about reading them back, and appending 200,000 records
# through the store would take most of its time): 40 actors, 5,000 customers, one second apart.
VALUES = (
    "'action', {time}, 'run-' || {i}, 'run-' || {i}, 'agent-' || ({i} % 40), 'C-' || ({i} % 5000), 'refund', "
    "'{{\"amount\": \"' || ({i} % 300) || '.00\"}}', 'item arrived damaged, customer sent photos', "
    "'[\"within the grant\"]', '[]', '{{}}', {false}, 'completed', '{zero}', '{zero}'"
)


def fill(backend: Backend, rows: int) -> None:
    """Insert `rows` records directly, in one statement."""
    zero = "0" * 64
    if backend.name == "sqlite":
        time = "strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || i || ' seconds') || '.000000'"
        values = VALUES.format(time=time, i="i", false=0, zero=zero)
        backend.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            f"INSERT INTO audit_record ({COLUMNS}) SELECT i, {values} FROM n",
            rows,
        )
    else:
        time = "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'"
        values = VALUES.format(time=time, i="i", false="false", zero=zero)
        backend.execute(
            f"INSERT INTO audit_record ({COLUMNS}) SELECT i, {values} FROM generate_series(1, ?) AS i", rows
        )


def traced_export(archive: AuditArchive, export_format: ExportFormat, *, limit: int | None = None) -> tuple[int, int]:
    """Rows written and Python's peak traced memory while exporting the records to /dev/null."""
    tracemalloc.start()
    try:
        with open(os.devnull, "w", newline="") as out:
            written = archive.export(records=archive.query(limit=limit), format=export_format, out=out)
        return written, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_exporting_200k_rows_keeps_memory_bounded(archive: AuditArchive, backend: Backend) -> None:
    fill(backend, ROWS)
    assert archive.count() == ROWS

    written, peak = traced_export(archive, "csv")
    assert written == ROWS
    assert peak < PEAK_LIMIT, f"CSV export peaked at {peak / 1e6:.1f} MB"
    # JSON Lines shares the streaming query; a quarter of the rows shows its per-row cost does not pile up.
    written, peak = traced_export(archive, "json", limit=ROWS // 4)
    assert written == ROWS // 4
    assert peak < PEAK_LIMIT, f"JSON export peaked at {peak / 1e6:.1f} MB"
