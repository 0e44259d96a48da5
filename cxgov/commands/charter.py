"""`cxgov charter history | diff | sign | shadow`: charter versions, who signed them, and trying one in shadow.

Signing and starting or stopping a shadow are acts of a person: they go through the HTTP API with that
person's credential (CXGOV_TOKEN, or the key file of `--as`), and the API records the credential's principal,
never the name typed. History, diff and the shadow report read the registry in CXGOV_DATABASE_URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxgov.charter import LoadedCharter, read_charter
from cxgov.charter.diff import describe_changes, diff_charters
from cxgov.charter.registry import CharterRegistry
from cxgov.charter.shadow import ShadowLedger, ShadowReport
from cxgov.commands.common import JsonOpt, command, emit, run_async, settings
from cxgov.frontdoor import FrontDoor, credential

PersonOpt = Annotated[str, typer.Option("--as", help="The person signing, as named in the charter's signoffs.")]


@command
def charter_history(as_json: JsonOpt = False) -> None:
    """Every charter file a worker loaded, by version: sha256, first and last load, which workers, and each
    declared sign-off with how it was signed."""
    registry = CharterRegistry(settings().audit_url)
    try:
        entries = registry.history()
    finally:
        registry.close()
    lines = []
    for entry in entries:
        lines.append(
            f"v{entry.version}  sha256 {entry.sha256[:12]}  {entry.charter}  first loaded "
            f"{entry.first_loaded:%Y-%m-%d %H:%M} UTC, {entry.loads} load(s) by {', '.join(entry.workers)}"
        )
        for signoff in entry.signoffs:
            how = f"signed ({signoff['signed_via']})" if signoff.get("signed_via") else "NOT signed"
            lines.append(f"    {signoff['function']}: {signoff['by']} on {signoff['on']}, {how}")
    emit(
        {"versions": [entry.model_dump(mode="json") for entry in entries]},
        "\n".join(lines) or "no charter loaded yet (a worker records each charter it loads)",
    )


@command
def charter_diff(
    old: Annotated[str, typer.Argument(help="A version a worker loaded (3 or v3), or a charter file.")],
    new: Annotated[str, typer.Argument(help="A version a worker loaded, or a charter file (the candidate).")],
    as_json: JsonOpt = False,
) -> None:
    """What changed from OLD to NEW, in words: grants and limits, ladders and coverage, actions, people, roles,
    actors, sign-offs, retention and drills."""
    registry = CharterRegistry(settings().audit_url)
    try:
        before, after = _charter(registry, old), _charter(registry, new)
    finally:
        registry.close()
    changes = diff_charters(before.charter, after.charter)
    head = (
        f"{before.charter.charter} v{before.charter.version} ({before.sha256[:12]}) -> "
        f"{after.charter.charter} v{after.charter.version} ({after.sha256[:12]}): {len(changes)} change(s)"
    )
    emit(
        {
            "from": {"version": before.charter.version, "sha256": before.sha256},
            "to": {"version": after.charter.version, "sha256": after.sha256},
            "changes": [change.model_dump() for change in changes],
        },
        "\n".join([head, *describe_changes(changes)]),
    )


def _charter(registry: CharterRegistry, spec: str) -> LoadedCharter:
    number = spec.removeprefix("v")
    if number.isdigit() and not Path(spec).exists():
        return registry.loaded_version(int(number))
    return read_charter(Path(spec))


@command
def charter_sign(
    file: Annotated[Path, typer.Argument(help="The charter file to sign (its exact sha256 is signed).")],
    function: Annotated[str, typer.Option(help="The sign-off function the file names you for: legal, finance...")],
    person: PersonOpt,
    as_json: JsonOpt = False,
) -> None:
    """Sign a charter file as PERSON for one sign-off function, with PERSON's credential. Refused (exit 3) when
    the file does not name that person for that function; exit 2 when it does not load. A production worker
    starts only once every declared sign-off is signed this way."""
    loaded = read_charter(file)
    config = settings()
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    body = {"text": loaded.text, "function": function, "person": person}
    signed = run_async(door.call("POST", "/v1/charter/signatures", body=body))
    missing = ", ".join(f"{item['function']} ({item['by']})" for item in signed["missing"])
    emit(
        signed,
        f"{signed['person']} signed {file} ({signed['charter']} v{signed['version']}, sha256 "
        f"{signed['sha256'][:12]}) for {signed['function']}; "
        + (f"still unsigned: {missing}" if missing else "every declared sign-off is signed"),
    )


@command
def charter_shadow(
    target: Annotated[
        str, typer.Argument(help="A candidate charter file to run in shadow, or `report`, or `stop`.", metavar="FILE")
    ],
    person: Annotated[
        str | None, typer.Option("--as", help="Who starts or stops it (default: a person's key file).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Try a candidate charter on live requests without enforcing it.

    `charter shadow FILE` decides every live request against FILE as well (no effect, nothing enforced);
    `charter shadow report` lists each decision it would change (allow -> escalate, escalate -> deny,
    gap -> allow, ...), grouped, with counts and example action ids; `charter shadow stop` ends it.
    """
    config = settings()
    if target == "report":
        ledger = ShadowLedger(config.audit_url)
        try:
            report = ledger.report()
        finally:
            ledger.close()
        emit(report.model_dump(mode="json"), "\n".join(report_lines(report)))
        return
    door = FrontDoor(config.api_url, credential(config, person, who="--as"))
    if target == "stop":
        stopped = run_async(door.call("POST", "/v1/charter/shadow/stop", body={"person": person}))
        emit(stopped, f"stopped shadow candidate v{stopped['version']} ({stopped['sha256'][:12]})")
        return
    loaded = read_charter(Path(target))
    started = run_async(door.call("POST", "/v1/charter/shadow", body={"text": loaded.text, "person": person}))
    emit(
        started,
        f"shadow: {target} ({started['charter']} v{started['version']}, sha256 {started['sha256'][:12]}) now decides "
        f"every live request too, enforcing nothing; see `cxgov charter shadow report`",
    )


def report_lines(report: ShadowReport) -> list[str]:
    """The shadow report as text: the candidate, how many decisions it saw, and each group of changes."""
    candidate = report.candidate
    if candidate is None:
        return ["no shadow candidate was ever started (`cxgov charter shadow FILE`)"]
    state = (
        "running"
        if candidate.stopped_at is None
        else f"stopped {candidate.stopped_at:%Y-%m-%d %H:%M} UTC by {candidate.stopped_by}"
    )
    lines = [
        f"candidate {candidate.charter} v{candidate.version} (sha256 {candidate.sha256[:12]}), started by "
        f"{candidate.started_by} {candidate.started_at:%Y-%m-%d %H:%M} UTC, {state}",
        f"{report.decided} live request(s) decided by both; {report.unchanged} unchanged, "
        f"{report.decided - report.unchanged} changed",
    ]
    for group in report.changed:
        lines.append(f"  {group.live} -> {group.shadow}  (candidate rule {group.rule}): {group.count}")
        for example in group.examples:
            reasons = "; ".join(example.reasons)
            lines.append(f"      {example.action_id}  {example.actor} {example.action}: {reasons}")
    return lines
