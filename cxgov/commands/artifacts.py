"""`cxgov diagram` and `cxgov review`: the one-page governance picture and the quarterly review."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cxgov.charter import load_charter
from cxgov.commands.common import JsonOpt, command, emit, settings
from cxgov.commands.questions import sources
from cxgov.diagram import read_picture, render_svg, to_dot, to_mermaid
from cxgov.errors import BadRequest
from cxgov.review import current_quarter, gather_review, parse_quarter
from cxgov.settings import shown_url


class DiagramFormat(StrEnum):
    svg = "svg"
    mermaid = "mermaid"
    dot = "dot"


def diagram_text(format: DiagramFormat, *, now: datetime) -> str:
    """The live governance picture in `format` (the charter of CXGOV_CHARTER, the drill ledger's state)."""
    config = settings()
    picture = read_picture(load_charter(config.charter_path), audit_url=config.audit_url, now=now)
    if format is DiagramFormat.mermaid:
        return to_mermaid(picture)
    dot = to_dot(picture)
    return dot if format is DiagramFormat.dot else render_svg(dot)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise BadRequest(f"cannot write {path}: {err.strerror or err}") from None


@command
def diagram(
    format: Annotated[
        DiagramFormat,
        typer.Option("--format", "-f", help="svg (laid out by Graphviz), mermaid (text), or dot (Graphviz source)."),
    ] = DiagramFormat.svg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Draw the live governance layer on one page.

    Actors with kind, owner and recertification date; the people in each role with what they may approve;
    every grant as an arrow to its action, labelled with its limits; each action with its reversal kind, its
    reversal owner and its drill state (passed, OVERDUE, FAILING, NEVER drilled); approval ladders and their
    coverage; the audit archive and how long it keeps records. States are written out, not only coloured.

    SVG needs Graphviz (`apt-get install graphviz`); without it the command exits 1 saying so, and
    --format mermaid still works. The console's charter page shows the same picture.
    """
    text = diagram_text(format, now=datetime.now(UTC))
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text)
    typer.echo(f"wrote {output} ({format.value})", err=True)


@command
def review(
    quarter: Annotated[
        str | None, typer.Option(help="The calendar quarter, like 2026Q4 (UTC); default: the current quarter.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file to write; default cxgov-review-QUARTER.html.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the quarterly governance review: one self-contained HTML file with charts and their numbers.

    Charter versions that decided requests and the live charter's sign-offs; actions by actor and outcome;
    approvals (count, time to decide, refusals); breaks (compensations, failed reversals, failed drills); gaps
    opened and closed; overdue recertifications; overrides and freezes. Read from the audit archive
    (CXGOV_DATABASE_URL), the drill ledger and the charter (CXGOV_CHARTER); nothing is fetched when it opens.
    Exit 2 for a quarter that is not like 2026Q4.
    """
    from cxgov.review_report import render_review  # matplotlib: loaded only by the command that draws charts

    now = datetime.now(UTC)
    chosen = parse_quarter(quarter) if quarter is not None else current_quarter(now)
    config = settings()
    charter = load_charter(config.charter_path)
    with sources(config) as (archive, ledger):
        facts = gather_review(
            charter=charter, quarter=chosen, archive=archive, ledger=ledger, audit_url=config.audit_url, now=now
        )
    path = output or Path(f"cxgov-review-{chosen.label}.html")
    _write(path, render_review(facts, audit_store=shown_url(config.audit_url)))
    emit(
        {
            "file": str(path),
            "quarter": chosen.label,
            "actions": facts.actions,
            "breaks": len(facts.breaks),
            "gaps": len(facts.gaps),
        },
        f"wrote {path}: review of {chosen.label}, {facts.actions} action(s), {len(facts.breaks)} break(s), "
        f"{len(facts.gaps)} gap group(s)",
    )
