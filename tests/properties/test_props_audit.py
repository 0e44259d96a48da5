"""Audit filters and CSV export under bad input.

Properties: any filter value (`cxgov audit --actor/--customer/--action/--since/--format`, `GET /v1/audit?...`,
`AuditArchive.query`) answers exactly the records a plain Python filter picks, or one clear error (exit 2 / 422);
nothing crashes. And every CSV the product writes (the CLI, the API, the console's download) neutralises cells a
spreadsheet would run as formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from api.apikit import Api, serving
from console.consolekit import browser_client, sign_in
from harness import Stack, in_process
from hypothesis import given
from hypothesis import strategies as st
from propkit import PROPERTIES, assert_one_clear_line, texts

from cxgov.audit.store import AuditArchive
from cxgov.audit.tables import AuditRecordBase, AuditRecordPublic
from cxgov.commands.common import moment
from cxgov.errors import BadRequest

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
FORMULA = '=HYPERLINK("http://x","y")'


def record(n: int, **fields: Any) -> AuditRecordBase:
    values: dict[str, Any] = {
        "kind": "action",
        "time": T0 + timedelta(hours=n),
        "source": f"props-{n}",
        "workflow_id": f"action-props-{n}",
        "run_id": f"props-{n}",
        "action_id": f"action-props-{n}",
        "actor": "support-bot",
        "actor_kind": "ai_agent",
        "customer": "C-100",
        "action": "refund",
        "params": f'{{"amount": "{n}.00", "order_id": "O-{n}"}}',
        "channel": "chat",
        "reason": f"customer asked ({n})",
        "outcome": "allow",
        "rule": "6-allow",
        "reasons": '["within the grant"]',
        "charter_version": 3,
        "status": "completed",
    }
    return AuditRecordBase(**{**values, **fields})


RECORDS = [
    record(1),
    record(2, reason=FORMULA, customer="+1-555"),
    record(3, customer="-5", reason="@SUM(A1)", actor="ana", actor_kind="person", status="denied"),
    record(4, reason="\tstarts with a tab", customer="%", action="cancel_order"),
    record(5, reason="\rstarts with a carriage return", customer="_", actor="🙂-bot"),
    record(6, customer="C-1' OR '1'='1", reason="-2+3+cmd|' /C calc'!A0", status="denied"),
    record(7, kind="reversal", reason="undo", customer="C-100"),
]
"""Records with the values that break things: formulas, SQL, LIKE wildcards, emoji, leading tabs and dashes."""
FIELD_VALUES = sorted({str(getattr(r, name)) for r in RECORDS for name in ("actor", "customer", "action", "status")})


def fill(url: str) -> None:
    archive = AuditArchive(url)
    try:
        archive.append_run(run=None, records=RECORDS)
    finally:
        archive.close()


def everything(url: str) -> list[AuditRecordPublic]:
    archive = AuditArchive(url)
    try:
        return list(archive.query())
    finally:
        archive.close()


def picked(records: list[AuditRecordPublic], filters: dict[str, Any]) -> list[int]:
    """The seqs a plain Python filter picks: the oracle every query is checked against."""
    since, until = filters.get("since"), filters.get("until")
    chosen = [
        r.seq
        for r in records
        if all(
            filters.get(name) in (None, getattr(r, name)) for name in ("actor", "customer", "action", "status", "kind")
        )
        and (since is None or r.time.replace(tzinfo=UTC) >= since)
        and (until is None or r.time.replace(tzinfo=UTC) < until)
    ]
    limit = filters.get("limit")
    return chosen[:limit] if limit is not None else chosen


http_texts = st.one_of(st.none(), st.sampled_from(FIELD_VALUES), texts)
filter_texts = st.one_of(http_texts, st.sampled_from(["\udcff", "C-\ud800"]))
"""What a command line can pass: undecodable bytes arrive as lone surrogates."""
zones = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2025, 12, 31), max_value=datetime(2026, 1, 2), timezones=st.just(UTC)),
    st.datetimes(timezones=zones),
    st.sampled_from([datetime.min, datetime.max]),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
            datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        ]
    ),
)


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[AuditArchive]:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    fill(url)
    archive = AuditArchive(url)
    yield archive
    archive.close()


@PROPERTIES
@given(
    actor=filter_texts,
    customer=filter_texts,
    action=filter_texts,
    status=filter_texts,
    kind=st.one_of(st.none(), st.sampled_from(["action", "reversal"]), texts),
    since=moments,
    until=moments,
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
)
def test_archive_queries_answer_exactly_the_matching_records_or_one_bad_request(
    filled: AuditArchive,
    actor: str | None,
    customer: str | None,
    action: str | None,
    status: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> None:
    filters: dict[str, Any] = {
        "actor": actor,
        "customer": customer,
        "action": action,
        "status": status,
        "kind": kind,
        "since": since,
        "until": until,
        "limit": limit,
    }
    texts_ok = all(
        value is None or not any(ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF for char in value)
        for name, value in filters.items()
        if name in ("actor", "customer", "action", "status", "kind")
    )
    if not texts_ok:
        # Control characters and text that is not text (lone surrogates) are refused before anything is read.
        with pytest.raises(BadRequest, match="control characters or bytes that are not UTF-8 text"):
            list(filled.query(**filters))
        return
    try:
        found = [r.seq for r in filled.query(**filters)]
    except BadRequest as err:
        assert "outside the years 1 to 9999" in err.message
        return
    everyone = list(filled.query())
    utc = {
        **filters,
        "since": None if since is None else (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC),
        "until": None if until is None else (until if until.tzinfo else until.replace(tzinfo=UTC)).astimezone(UTC),
    }
    assert found == picked(everyone, utc)


since_texts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "180d",
            "1d",
            "0d",
            "-1d",
            "99999999999999d",
            "36501d",
            "2026-01-01",
            "2026-01-01T10:00",
            "2026-02-30",
            "0001-01-01T00:00+05:00",
            "9999-12-31T23:59-05:00",
            "last tuesday",
            "",
            " ",
            "\x00",
            "1" * 40 + "d",
        ]
    ),
    texts,
)


@pytest.fixture
def audit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """CXGOV_* pointing `cxgov audit` at a filled archive, and nothing else of the shell's CXGOV_* settings."""
    for name in [name for name in os.environ if name.startswith("CXGOV_")]:
        monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("CXGOV_HOME", str(tmp_path))
    monkeypatch.setenv("CXGOV_DATABASE_URL", url)
    fill(url)
    return url


@PROPERTIES
@given(
    actor=filter_texts,
    customer=filter_texts,
    action=filter_texts,
    since=since_texts,
    output=st.one_of(st.sampled_from(["json", "csv"]), texts),
)
def test_cxgov_audit_filters_answer_the_matching_records_or_one_clear_error(
    audit_home: str,
    capsys: pytest.CaptureFixture[str],
    actor: str | None,
    customer: str | None,
    action: str | None,
    since: str | None,
    output: str,
) -> None:
    run = in_process(capsys)
    args = ["audit", f"--format={output}"]
    for option, value in (("actor", actor), ("customer", customer), ("action", action), ("since", since)):
        if value is not None:
            args.append(f"--{option}={value}")
    outcome = run(*args)
    if outcome.code != 0:
        assert outcome.code == 2, (args, outcome)
        assert_one_clear_line(outcome.one_error_line())
        return
    if output == "csv":
        rows = list(csv.DictReader(io.StringIO(outcome.out, newline="")))
        seqs = [int(row["seq"]) for row in rows]
    else:
        seqs = [json.loads(line)["seq"] for line in outcome.out.splitlines()]
    start = moment(since, option="--since")  # no error: the command accepted it (the records are months away
    # from any moment a duration names, so the milliseconds between the command's clock and this one do not matter)
    expected = picked(everything(audit_home), {"actor": actor, "customer": customer, "action": action, "since": start})
    assert seqs == expected, args


def test_a_bad_since_is_one_clear_error(audit_home: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = in_process(capsys)
    for since, problem in [
        ("last tuesday", "--since 'last tuesday': write a duration like 180d"),
        ("99999999999999d", "--since '99999999999999d': '99999999999999d' is longer than 36500d"),
        ("0001-01-01T00:00+05:00", "--since '0001-01-01T00:00+05:00' is outside the years 1 to 9999"),
        ("0d", "--since '0d': '0d' must be longer than zero"),
    ]:
        outcome = run("audit", f"--since={since}")
        assert outcome.code == 2
        assert outcome.one_error_line() == f"cxgov: {problem}" or outcome.one_error_line().startswith(
            f"cxgov: {problem}"
        )
    outcome = run("audit", "--actor=\udcff")
    assert outcome.code == 2 and "not UTF-8 text" in outcome.one_error_line()


def neutralised_rows(table: str) -> dict[int, dict[str, str]]:
    return {int(row["seq"]): row for row in csv.DictReader(io.StringIO(table, newline=""))}


def assert_neutralised(rows: dict[int, dict[str, str]], seq_of: dict[str, int]) -> None:
    """The formula cells start with `'`; ordinary text, times, numbers and JSON are exactly as stored."""
    hyperlink, dash, tab, cr, calc, plain = (seq_of[key] for key in ("hyperlink", "dash", "tab", "cr", "calc", "plain"))
    assert rows[hyperlink]["reason"] == "'" + FORMULA
    assert rows[hyperlink]["customer"] == "'+1-555"
    assert rows[dash]["customer"] == "'-5" and rows[dash]["reason"] == "'@SUM(A1)"
    assert rows[tab]["reason"] == "'\tstarts with a tab"
    assert rows[cr]["reason"] == "'\rstarts with a carriage return"
    assert rows[calc]["reason"] == "'-2+3+cmd|' /C calc'!A0"
    assert rows[plain]["reason"] == "customer asked (1)" and rows[plain]["customer"] == "C-100"
    assert rows[plain]["charter_version"] == "3" and rows[plain]["gap"] == "false"
    assert rows[plain]["params"] == '{"amount": "1.00", "order_id": "O-1"}'
    assert rows[plain]["time"].startswith("2026-01-01T10:00:00")
    for row in rows.values():
        for column, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


def seqs_by_reason(records: list[AuditRecordPublic]) -> dict[str, int]:
    by_reason = {r.reason: r.seq for r in records}
    return {
        "plain": by_reason["customer asked (1)"],
        "hyperlink": by_reason[FORMULA],
        "dash": by_reason["@SUM(A1)"],
        "tab": by_reason["\tstarts with a tab"],
        "cr": by_reason["\rstarts with a carriage return"],
        "calc": by_reason["-2+3+cmd|' /C calc'!A0"],
    }


def test_cxgov_audit_csv_neutralises_formulas(audit_home: str, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = in_process(capsys)("audit", "--format", "csv")
    assert outcome.code == 0, outcome
    assert_neutralised(neutralised_rows(outcome.out), seqs_by_reason(everything(audit_home)))
    as_json = in_process(capsys)("audit", "--customer=+1-555")
    (line,) = as_json.out.splitlines()
    assert json.loads(line)["reason"] == FORMULA, "JSON Lines stay exactly as stored (and verifiable)"


async def test_the_api_and_the_console_csv_neutralise_formulas(stack: Stack, tmp_path: Path) -> None:
    async with serving(stack, tmp_path) as api:
        fill(api.gate.settings.audit_url)
        api.token("farid")
        seq_of = seqs_by_reason(everything(api.gate.settings.audit_url))
        async with api.client("farid") as farid:
            table = await farid.get("/v1/audit", params={"format": "csv"})
        assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
        assert_neutralised(neutralised_rows(table.text), seq_of)
        async with browser_client(api) as browser:
            await sign_in(browser, api.token("farid"))
            download = await browser.get("/audit/export", params={"format": "csv"})
        assert download.status_code == 200, download.text[:300]
        assert "attachment" in download.headers["content-disposition"]
        assert_neutralised(neutralised_rows(download.text), seq_of)


async def test_api_audit_filters_answer_the_matching_records_or_one_clear_error(stack: Stack, tmp_path: Path) -> None:
    async with serving(stack, tmp_path) as api:
        fill(api.gate.settings.audit_url)
        token = api.token("farid")
        await asyncio.to_thread(query_api, api, token)


def query_api(api: Api, token: str) -> None:
    """Generated `GET /v1/audit` queries, from this thread: the matching records as JSON Lines, or one 422."""
    with httpx.Client(base_url=api.url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        records = everything(api.gate.settings.audit_url)

        @PROPERTIES
        @given(
            actor=http_texts,
            customer=http_texts,
            status=http_texts,
            since=st.one_of(since_texts, st.sampled_from(["2026-01-01T11:00:00Z", "2026-01-01T09:30+01:00"])),
            fmt=st.one_of(st.sampled_from(["jsonl", "csv"]), texts),
        )
        def asked(actor: str | None, customer: str | None, status: str | None, since: str | None, fmt: str) -> None:
            params = {
                name: value
                for name, value in (("actor", actor), ("customer", customer), ("status", status), ("since", since))
                if value is not None
            }
            params["format"] = fmt
            answer = http.get("/v1/audit", params=params)
            if answer.status_code != 200:
                assert answer.status_code == 422, (params, answer.status_code, answer.text[:200])
                body = answer.json()
                assert body["exit_code"] == 2
                assert_one_clear_line(body["error"])
                return
            if fmt == "csv":
                seqs = [int(row["seq"]) for row in csv.DictReader(io.StringIO(answer.text, newline=""))]
            else:
                seqs = [json.loads(line)["seq"] for line in answer.text.splitlines()]
            start = moment(since, option="since")  # the server took it
            expected = picked(records, {"actor": actor, "customer": customer, "status": status, "since": start})
            assert seqs == expected, params

        asked()
