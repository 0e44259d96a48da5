"""Exporting records as JSON Lines or CSV, one row at a time (constant memory for any number of rows)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Literal, TextIO

from cxgov.audit.chain import RECORD_FIELDS, TIME_FIELDS
from cxgov.audit.tables import AuditRecordBase, AuditRecordPublic
from cxgov.errors import BadRequest

ExportFormat = Literal["json", "csv"]
EXPORT_COLUMNS: tuple[str, ...] = ("seq", *RECORD_FIELDS, "prev_hash", "hash")
"""CSV columns, in order: the chain position, every record field, then the chain hashes."""


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is run as a formula by spreadsheets (CSV injection): exported with a
leading `'`, which spreadsheets show as text (OWASP's guidance). Numbers are written as they are."""


def spreadsheet_safe(value: Any) -> Any:
    """`value` for a CSV cell: text a spreadsheet would run as a formula gets a leading `'`; anything else is
    returned unchanged (numbers stay numbers, `-5` included)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


_TIME_COLUMNS = tuple(i for i, name in enumerate(EXPORT_COLUMNS) if name in TIME_FIELDS)
_FLAGS = {name for name, info in AuditRecordBase.model_fields.items() if info.annotation is bool}
_FLAG_COLUMNS = tuple(i for i, name in enumerate(EXPORT_COLUMNS) if name in _FLAGS)


def _csv_row(record: AuditRecordPublic) -> list[Any]:
    values = record.__dict__
    row = [values[name] for name in EXPORT_COLUMNS]  # csv writes None as an empty cell
    for i in _TIME_COLUMNS:
        if row[i] is not None:
            row[i] = row[i].isoformat()
    for i in _FLAG_COLUMNS:
        row[i] = "true" if row[i] else "false"
    return [spreadsheet_safe(value) for value in row]


def export_records(*, records: Iterable[AuditRecordPublic], format: ExportFormat, out: TextIO) -> int:
    """Write records to `out` as they come and return how many were written.

    Args:
        records: The records, e.g. `AuditArchive.query(...)` (consumed once, never held in memory).
        format: `json` for JSON Lines (one object per line, JSON-text fields such as `params` kept as the
            exact text that was hashed), `csv` for a header line and one row per record (an empty cell for
            a missing value, `true`/`false` for `gap`, times in UTC ISO 8601; a text cell starting with `=`, `+`,
            `-`, `@`, a tab or a carriage return gets a leading `'`, so that no spreadsheet runs it as a formula:
            JSON Lines is the exact, verifiable form; lines end in CRLF).
        out: Where to write (a text stream; open files with `newline=""` for CSV).

    Raises:
        BadRequest: For any other format.
    """
    if format not in ("json", "csv"):
        raise BadRequest(f"unknown export format {format!r}: use json or csv", field="format")
    written = 0
    if format == "json":
        for record in records:
            out.write(record.model_dump_json())
            out.write("\n")
            written += 1
        return written
    # CRLF, as RFC 4180 writes it: the writer then quotes every cell holding a CR or an LF. With "\n" alone a
    # reason containing a bare "\r" was written unquoted, and readers split the row there.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in records:
        writer.writerow(_csv_row(record))
        written += 1
    return written
