"""The hash chain: how a record's hash is computed, and how a walk along the chain finds the first break.

Each record's hash covers every field it says, its seq and the previous record's hash, so editing a
record changes its hash, deleting one leaves a gap in the seqs, and inserting or moving one breaks the
link from the record after it. The chain head (the newest seq and hash, kept apart) catches the deletion
of the newest records. Records purged for retention are accounted for by the expiry receipt appended
after the purge: it names the purged range and the hash of the last purged record, which the first
remaining record must chain from.

Someone with write access to the database could recompute every hash and the head. An anchor closes that:
the head `verify` reports (`SEQ:HASH`), kept outside the database and passed back to a later `verify`,
which then fails unless the record at SEQ still has that hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from cxgov.audit.database import to_db_time
from cxgov.audit.tables import GENESIS, AuditRecordBase

RECORD_FIELDS: tuple[str, ...] = tuple(AuditRecordBase.model_fields)
"""Every field a record says, all of them covered by its hash."""
TIME_FIELDS: tuple[str, ...] = tuple(
    name for name, info in AuditRecordBase.model_fields.items() if info.annotation in (datetime, datetime | None)
)
"""The fields holding times, hashed as UTC ISO 8601 with microseconds."""
OPTIONAL_FIELDS: tuple[str, ...] = ("charter_sha256", "history_sha256")
"""Fields added after records were first archived: hashed only when set, so older records still verify."""


class ChainReport(BaseModel):
    """What `verify` found: ok, or the first problem, in words a compliance reader understands."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    """True when every record is present, unaltered and in its place."""
    checked: int
    """How many records were verified intact before the first problem (every record when ok)."""
    problem: str | None = None
    """The first problem found, e.g. "record 17 was altered: its contents no longer match its hash"."""
    seq: int | None = None
    """The record the problem is about (the first missing one for a deletion)."""
    head: str | None = None
    """The newest record verified, as an anchor `SEQ:HASH` (None when the chain is broken or empty)."""
    anchors_checked: int = 0
    """How many of the given anchors were found and matched."""
    anchors_purged: list[int] = []
    """Anchors on records purged for retention since they were taken: nothing left to check them against."""


def parse_anchor(text: str) -> tuple[int, str]:
    """An anchor `SEQ:HASH` as (seq, hash); ValueError naming what is wrong."""
    seq_text, sep, digest = text.strip().partition(":")
    if not sep or not seq_text.isdigit() or int(seq_text) < 1:
        raise ValueError(f"an anchor is SEQ:HASH as `cxgov audit verify` prints it as head, got {text!r}")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"the hash of anchor {text!r} is not 64 hexadecimal digits")
    return int(seq_text), digest


def hash_values(*, seq: int, prev_hash: str, values: Mapping[Any, Any]) -> str:
    """The hash of a record given as a mapping holding (at least) every record field.

    Args:
        seq: The record's position in the chain.
        prev_hash: The previous record's hash (`GENESIS` for record 1).
        values: The record's fields by name, e.g. a database row mapping.
    """
    canonical = {name: values[name] for name in RECORD_FIELDS}
    for name in OPTIONAL_FIELDS:
        if canonical[name] is None:
            del canonical[name]  # added later: a record without it hashes exactly as it did before
    for name in TIME_FIELDS:
        moment = canonical[name]
        if moment is not None:
            canonical[name] = to_db_time(moment).isoformat(timespec="microseconds")
    canonical["seq"] = seq
    canonical["prev_hash"] = prev_hash
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def record_hash(*, seq: int, prev_hash: str, record: AuditRecordBase) -> str:
    """The sha256 (hex) of a canonical JSON of every record field (times in UTC ISO), seq and prev_hash.

    Args:
        seq: The record's position in the chain.
        prev_hash: The previous record's hash (`GENESIS` for record 1).
        record: What the record says; only the `AuditRecordBase` fields are read.
    """
    return hash_values(seq=seq, prev_hash=prev_hash, values={name: getattr(record, name) for name in RECORD_FIELDS})


@dataclass(frozen=True)
class ReceiptLink:
    """What an expiry receipt promises about the records it accounts for."""

    receipt_seq: int
    purged_to_seq: int
    last_purged_hash: str


def receipt_link(*, seq: int, detail: str) -> ReceiptLink | None:
    """The link an expiry receipt's detail JSON promises, or None when the detail is not a receipt's."""
    try:
        parsed = json.loads(detail)
        return ReceiptLink(
            receipt_seq=seq,
            purged_to_seq=int(parsed["purged_to_seq"]),
            last_purged_hash=str(parsed["last_purged_hash"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _missing(first: int, last: int) -> str:
    return f"record {first} is missing (deleted)" if first == last else f"records {first}-{last} are missing (deleted)"


def _start_problem(row: Mapping[Any, Any], receipts: Mapping[int, ReceiptLink]) -> tuple[str, int] | None:
    """Whether the first remaining record starts the chain: at seq 1, or right after a receipted purge."""
    seq: int = row["seq"]
    if seq == 1:
        if row["prev_hash"] != GENESIS:
            return "record 1 does not start the chain: it names a previous record that never existed", 1
        return None
    link = receipts.get(seq - 1)
    if link is None:
        covered = max((n for n in receipts if n < seq - 1), default=0)
        why = (
            f"the expiry receipts account only for records up to {covered}"
            if covered
            else "no expiry receipt accounts for them"
        )
        return f"{_missing(covered + 1, seq - 1)} before record {seq}: {why}", covered + 1
    if row["prev_hash"] != link.last_purged_hash:
        return (
            f"record {seq} does not chain from the records purged before it: expiry receipt "
            f"{link.receipt_seq} names a different last purged record (records were altered or replaced)"
        ), seq
    return None


def _link_problem(row: Mapping[Any, Any], prev: Mapping[Any, Any], before_prev_hash: str | None) -> tuple[str, int]:
    seq: int = row["seq"]
    prev_seq: int = prev["seq"]
    content_ok = hash_values(seq=seq, prev_hash=row["prev_hash"], values=row) == row["hash"]
    if before_prev_hash is not None and row["prev_hash"] == before_prev_hash:
        return (
            f"record {prev_seq} was inserted: it is not part of the chain (record {seq} follows record {prev_seq - 1})"
        ), prev_seq
    if content_ok:
        return (
            f"record {seq} does not follow record {prev_seq}: a record was inserted or the records were reordered"
        ), seq
    return (
        f"record {seq} is out of place: it was inserted or moved (neither its hash nor its link to record "
        f"{prev_seq} matches)"
    ), seq


def walk_chain(
    *,
    rows: Iterable[Mapping[Any, Any]],
    head: tuple[int, str] | None,
    receipts: Mapping[int, ReceiptLink],
    anchors: Mapping[int, str] | None = None,
) -> ChainReport:
    """Walk the chain in seq order and report the first problem.

    Args:
        rows: Every record, as mappings with every record field plus seq, prev_hash and hash, by seq.
        head: The chain head's (seq, hash), or None when the head row is missing.
        receipts: The expiry receipts in the archive, by the last seq they purged.
        anchors: Hashes published earlier, by seq (see `parse_anchor`); each must still match.
    """
    anchors = anchors or {}
    checked = 0
    prev: Mapping[Any, Any] | None = None
    before_prev_hash: str | None = None
    for row in rows:
        seq: int = row["seq"]
        if prev is None:
            start = _start_problem(row, receipts)
            if start is not None:
                return ChainReport(ok=False, checked=checked, problem=start[0], seq=start[1])
        elif seq != prev["seq"] + 1:
            problem = f"{_missing(prev['seq'] + 1, seq - 1)} between records {prev['seq']} and {seq}"
            return ChainReport(ok=False, checked=checked, problem=problem, seq=prev["seq"] + 1)
        elif row["prev_hash"] != prev["hash"]:
            problem, where = _link_problem(row, prev, before_prev_hash)
            return ChainReport(ok=False, checked=checked, problem=problem, seq=where)
        if hash_values(seq=seq, prev_hash=row["prev_hash"], values=row) != row["hash"]:
            problem = f"record {seq} was altered: its contents no longer match its hash"
            return ChainReport(ok=False, checked=checked, problem=problem, seq=seq)
        if seq in anchors and anchors[seq] != row["hash"]:
            return ChainReport(ok=False, checked=checked, problem=_rewritten(seq), seq=seq)
        checked += 1
        before_prev_hash = None if prev is None else prev["hash"]
        prev = {"seq": seq, "hash": row["hash"]}
    report = _end_report(checked=checked, last=prev, head=head)
    if not report.ok or not anchors:
        return report
    return _anchor_report(report, last_seq=0 if prev is None else prev["seq"], anchors=anchors, receipts=receipts)


def _rewritten(seq: int) -> str:
    return f"record {seq} does not match its anchor: the chain was rewritten up to record {seq} or earlier"


def _anchor_report(
    report: ChainReport, *, last_seq: int, anchors: Mapping[int, str], receipts: Mapping[int, ReceiptLink]
) -> ChainReport:
    """An intact chain checked against the anchors: those on purged records through their expiry receipts."""
    first_seq = last_seq - report.checked + 1
    checked, purged = 0, []
    for seq, digest in sorted(anchors.items()):
        if first_seq <= seq <= last_seq:
            checked += 1  # matched during the walk
        elif seq > last_seq:
            problem = f"record {seq}, which an anchor names, is missing: the chain now ends at record {last_seq}"
            return report.model_copy(update={"ok": False, "problem": problem, "seq": seq, "head": None})
        elif seq in receipts:
            if receipts[seq].last_purged_hash != digest:
                problem = _rewritten(seq) + f" (expiry receipt {receipts[seq].receipt_seq} names another hash)"
                return report.model_copy(update={"ok": False, "problem": problem, "seq": seq, "head": None})
            checked += 1
        else:
            purged.append(seq)
    return report.model_copy(update={"anchors_checked": checked, "anchors_purged": purged})


def _end_report(*, checked: int, last: Mapping[Any, Any] | None, head: tuple[int, str] | None) -> ChainReport:
    """Whether the chain ends where the head says the newest record is."""
    if last is None:
        if head is None or head[0] == 0:
            return ChainReport(ok=True, checked=0)
        problem = f"every record is missing (deleted): the archive's head says the newest was record {head[0]}"
        return ChainReport(ok=False, checked=0, problem=problem, seq=head[0])
    last_seq: int = last["seq"]
    if head is None:
        problem = f"the archive's chain head is missing, so deletions after record {last_seq} cannot be ruled out"
        return ChainReport(ok=False, checked=checked, problem=problem, seq=last_seq)
    head_seq, head_hash = head
    if head_seq > last_seq:
        problem = (
            f"{_missing(last_seq + 1, head_seq)}: the chain ends at record {last_seq} but the newest archived "
            f"record was {head_seq}"
        )
        return ChainReport(ok=False, checked=checked, problem=problem, seq=last_seq + 1)
    if head_seq < last_seq:
        what = f"record {head_seq + 1} was" if last_seq == head_seq + 1 else f"records {head_seq + 1}-{last_seq} were"
        problem = f"{what} inserted after the newest archived record {head_seq}"
        return ChainReport(ok=False, checked=checked, problem=problem, seq=head_seq + 1)
    if head_hash != last["hash"]:
        problem = f"record {last_seq} was replaced: it is not the newest record that was archived"
        return ChainReport(ok=False, checked=checked, problem=problem, seq=last_seq)
    return ChainReport(ok=True, checked=checked, head=f"{last_seq}:{last['hash']}")
