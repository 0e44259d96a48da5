"""The one-page governance picture: the live charter, drill state and audit store as one diagram.

`cxgov diagram` and the console's charter page draw the same picture: actors (kind, owner, recertification),
people in their roles (approve limits), grants as edges to actions labelled with their limits, actions (reversal
kind, owner role, drill state, excluded SKUs), approval ladders with their coverage, and where the audit goes
and for how long. The layout is Graphviz's (`dot`, the Debian `graphviz` package), never hand-placed; Mermaid
text is offered too, for wikis that render it. Every name comes from the charter file, so every name is escaped
(HTML labels in DOT, entity codes in Mermaid), and node ids are made from the kind and position only.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from cxgov.charter import Charter, Grant
from cxgov.charter.models import Action, Budget, format_duration
from cxgov.drills.ledger import ActionDrills, DrillLedger
from cxgov.errors import Unavailable
from cxgov.questions import sqlite_file
from cxgov.settings import shown_url

DOT_TIMEOUT_SECONDS = 30.0
FONT = "DejaVu Sans,Liberation Sans,Arial,sans-serif"
INSTALL_GRAPHVIZ = (
    "graphviz is not installed: the `dot` command was not found on PATH. Install it (Debian/Ubuntu: "
    "apt-get install graphviz; macOS: brew install graphviz), or use --format mermaid"
)
DrillState = Literal["passed", "overdue", "failing", "never", "irreversible"]
Tone = Literal["good", "attention", "bad", "neutral"]
FILL: dict[Tone, str] = {"good": "#e3f4e8", "attention": "#fff3cd", "bad": "#fde2e1", "neutral": "#f1f3f5"}
"""Node fills; every coloured node also says its state in words (colour is never the only signal)."""
BORDER: dict[Tone, str] = {"good": "#1e7b3c", "attention": "#8a6100", "bad": "#9b1c1c", "neutral": "#5c6670"}
DRILL_TONE: dict[DrillState, Tone] = {
    "passed": "good",
    "overdue": "attention",
    "failing": "bad",
    "never": "attention",
    "irreversible": "neutral",
}


@dataclass(frozen=True)
class DrillMark:
    """An action's drill state as the picture shows it: the state, and the words for it."""

    state: DrillState
    text: str


@dataclass(frozen=True)
class Picture:
    """Everything the one page shows, read once: the charter, drill marks, the audit store, the day it is drawn."""

    charter: Charter
    drills: Mapping[str, DrillMark]
    audit_store: str
    """The audit archive's URL, without any password (`shown_url`)."""
    today: date


def drill_mark(action: Action, drills: ActionDrills | None, *, max_age: timedelta, now: datetime) -> DrillMark:
    """The drill state of one action: passed (with the date), overdue, failing, never drilled, or irreversible."""
    if action.reversal.kind == "irreversible":
        return DrillMark("irreversible", "irreversible: no undo to drill")
    latest = drills.latest if drills is not None else None
    last_pass = drills.last_pass if drills is not None else None
    if latest is None:
        return DrillMark("never", "drill: NEVER drilled (untested undo)")
    if not latest.passed:
        return DrillMark("failing", f"drill: FAILING since {latest.finished.date()} (step {latest.failing_step})")
    if last_pass is None or now - last_pass.finished > max_age:
        since = f"last pass {last_pass.finished.date()}" if last_pass is not None else "never passed"
        return DrillMark("overdue", f"drill: OVERDUE, {since}")
    return DrillMark("passed", f"drill: passed {last_pass.finished.date()}")


def read_picture(charter: Charter, *, audit_url: str, now: datetime) -> Picture:
    """The picture of `charter` with the drill ledger's state (a missing SQLite archive: nothing drilled yet)."""
    path = sqlite_file(audit_url)
    found: dict[str, ActionDrills] = {}
    if path is None or path.exists():
        ledger = DrillLedger(audit_url)
        try:
            found = {name: ledger.drills(action=name) for name in charter.drilled_actions()}
        finally:
            ledger.close()
    marks = {
        name: drill_mark(action, found.get(name), max_age=charter.drills.max_age, now=now)
        for name, action in charter.actions.items()
    }
    return Picture(charter=charter, drills=marks, audit_store=shown_url(audit_url), today=now.date())


# --- what each box and edge says ---------------------------------------------------------------------------


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,} {currency}"


def _kind(kind: str) -> str:
    return {"ai_agent": "AI agent"}.get(kind, kind)


def actor_lines(charter: Charter, name: str, *, today: date) -> tuple[list[str], Tone]:
    """An actor's box: name, kind and owner, recertification (OVERDUE or SUSPENDED in words)."""
    actor = charter.actors[name]
    lines = [name, f"{_kind(actor.kind)}, owner {actor.owner}"]
    if actor.suspended:
        return [*lines, "SUSPENDED: every request denied"], "bad"
    if actor.recertify_by < today:
        return [*lines, f"RECERTIFICATION OVERDUE since {actor.recertify_by}: denied"], "bad"
    return [*lines, f"recertify by {actor.recertify_by}"], "neutral"


def role_lines(charter: Charter, role: str) -> list[str]:
    """A role's box: its name, then each member with what they may approve."""
    lines = [role if role in charter.roles else f"{role} (not declared)"]
    members = charter.members(role)
    for person in members:
        held = charter.people[person]
        limit = (
            f"approves up to {money(held.approve_limit, charter.currency)}"
            if held.approve_limit is not None
            else "approves no money"
        )
        lines.append(f"{person}: {limit}" + (" (SUSPENDED)" if held.suspended else ""))
    return lines if members else [*lines, "nobody holds this role"]


def action_lines(charter: Charter, name: str, mark: DrillMark | None) -> list[str]:
    """An action's box: name, reversal kind and owner, drill state, excluded SKUs."""
    action = charter.actions[name]
    reversal = action.reversal
    kind = {
        "always": "reversible always",
        "window": f"reversible within {format_duration(reversal.window)}" if reversal.window else "window",
        "until": f"reversible until {reversal.until}",
        "irreversible": "IRREVERSIBLE",
    }[reversal.kind]
    lines = [name, kind, f"reversal owner: {reversal.owner or 'NOBODY'}"]
    if mark is not None:
        lines.append(mark.text)
    if action.excluded_skus:
        lines.append("never for SKUs " + ", ".join(action.excluded_skus))
    return lines


def budget_text(budget: Budget, currency: str) -> str:
    caps = []
    if budget.count is not None:
        caps.append(f"{budget.count} requests")
    if budget.amount is not None:
        caps.append(money(budget.amount, currency))
    return f"budget per {format_duration(budget.per)}: " + (", ".join(caps) or "no cap")


def grant_limits(grant: Grant, currency: str) -> list[str]:
    """A grant's limits in words, one per line (the edge label)."""
    limits = []
    if grant.max_amount is not None:
        limits.append(f"max {money(grant.max_amount, currency)}")
    if grant.require_approval:
        limits.append("approval always")
    elif grant.approve_above is not None:
        limits.append(f"approval above {money(grant.approve_above, currency)}")
    if grant.channels:
        limits.append("channels " + ", ".join(grant.channels))
    if grant.segments:
        limits.append("segments " + ", ".join(grant.segments))
    if grant.budget is not None:
        limits.append(budget_text(grant.budget, currency))
    return limits or ["no limits beyond the action's"]


# --- the graph, independent of its notation -------------------------------------------------------------------


@dataclass
class _Graph:
    """Nodes by cluster, and edges, with ids made from kind and position only (never from a name)."""

    clusters: dict[str, list[str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    tones: dict[str, Tone] = field(default_factory=dict)
    edges: list[tuple[str, str, list[str], str]] = field(default_factory=list)
    """(tail, head, label lines, style: grant | ladder | coverage | audit)."""
    ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def node(self, kind: str, name: str, *, cluster: str, lines: list[str], tone: Tone = "neutral") -> str:
        key = (kind, name)
        if key not in self.ids:
            node_id = f"{kind}{len(self.ids)}"
            self.ids[key] = node_id
            self.clusters.setdefault(cluster, []).append(node_id)
            self.labels[node_id], self.tones[node_id] = lines, tone
        return self.ids[key]


CLUSTERS = {
    "actors": "Actors (non-human)",
    "grantees": "People acting under a role",
    "actions": "Actions",
    "approvers": "Approval ladders and coverage",
    "audit": "Audit trail",
}


def _graph(picture: Picture) -> _Graph:
    charter, graph = picture.charter, _Graph()
    granted_roles = {grant.role for grant in charter.grants if grant.role is not None}

    def role(name: str) -> str:
        cluster = "grantees" if name in granted_roles else "approvers"
        return graph.node("role", name, cluster=cluster, lines=role_lines(charter, name))

    def action(name: str) -> str:
        if name not in charter.actions:
            return graph.node("action", name, cluster="actions", lines=[name, "NOT IN THE CHARTER"], tone="bad")
        mark = picture.drills.get(name)
        tone = DRILL_TONE[mark.state] if mark is not None else "neutral"
        return graph.node("action", name, cluster="actions", lines=action_lines(charter, name, mark), tone=tone)

    for name in charter.actors:
        lines, tone = actor_lines(charter, name, today=picture.today)
        graph.node("actor", name, cluster="actors", lines=lines, tone=tone)
    for name in charter.roles:
        role(name)
    for name in charter.actions:
        action(name)
    for grant in charter.grants:
        if grant.actor is not None:
            known = grant.actor in charter.actors or grant.actor in charter.people
            tail = graph.node(
                "actor", grant.actor, cluster="actors", lines=[grant.actor] if known else [grant.actor, "NOT DECLARED"]
            )
        else:
            tail = role(grant.role or "")
        graph.edges.append((tail, action(grant.action), grant_limits(grant, charter.currency), "grant"))
    for name, declared in charter.actions.items():
        if declared.approval is None:
            continue
        timeout = format_duration(declared.approval.step_timeout)
        for step, ladder_role in enumerate(declared.approval.ladder, start=1):
            graph.edges.append((action(name), role(ladder_role), [f"approval step {step}, {timeout} each"], "ladder"))
    for name, declared_role in charter.roles.items():
        if declared_role.coverage:
            graph.edges.append((role(name), role(declared_role.coverage), ["covers when nobody answers"], "coverage"))
    days = charter.retention_days
    audit = graph.node(
        "audit",
        "archive",
        cluster="audit",
        lines=[
            "Audit archive (hash-chained)",
            picture.audit_store,
            f"kept {days} days (about {days / 365:.1f} years), then an expiry receipt",
            "check it: cxgov audit verify",
        ],
    )
    if charter.actions:
        first = action(next(iter(charter.actions)))
        graph.edges.append((first, audit, ["every decision, approval, step, reversal and drill"], "audit"))
    return graph


def _title(picture: Picture) -> list[str]:
    charter = picture.charter
    signed = ", ".join(f"{s.function}: {s.by} ({s.on})" for s in charter.signoffs) or "nobody"
    return [
        f"Charter {charter.charter} v{charter.version}: governance on one page, {picture.today}",
        f"signed off by {signed}",
    ]


# --- DOT -------------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _html(text: str) -> str:
    """Text for a Graphviz HTML-like label: entities for & < > " ', control characters as spaces."""
    return html.escape(_CONTROL.sub(" ", text), quote=True)


def _label(lines: list[str], *, bold_first: bool = True) -> str:
    escaped = [_html(line) for line in lines]
    if bold_first and escaped:
        escaped[0] = f"<B>{escaped[0]}</B>"
    return "<" + "<BR/>".join(escaped) + ">"


EDGE_STYLE = {
    "grant": 'color="#1f4e79", fontcolor="#1f4e79", penwidth=1.4',
    "ladder": 'color="#6f42c1", fontcolor="#6f42c1", style=dashed',
    "coverage": 'color="#8a6100", fontcolor="#8a6100", style=dotted, penwidth=1.4',
    "audit": 'color="#5c6670", fontcolor="#5c6670", ltail=cluster_actions, style=bold',
}


def to_dot(picture: Picture) -> str:
    """The picture as Graphviz DOT text: left to right, one cluster per kind, every name escaped."""
    graph = _graph(picture)
    out = [
        "digraph governance {",
        f'  graph [rankdir=LR, compound=true, newrank=true, nodesep=0.35, ranksep=0.9, fontname="{FONT}", '
        f"fontsize=18, labelloc=t, label={_label(_title(picture))}, pad=0.3];",
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=11, margin="0.15,0.08"];',
        f'  edge [fontname="{FONT}", fontsize=10, arrowsize=0.8];',
    ]
    for cluster, members in graph.clusters.items():
        out.append(f"  subgraph cluster_{cluster} {{")
        out.append(f'    label={_label([CLUSTERS[cluster]])}; style="rounded"; color="#adb5bd"; fontsize=13;')
        if cluster != "audit":  # one column per kind: the page reads left to right
            out.append("    rank=same; " + " ".join(f'"{node_id}";' for node_id in members))
        for node_id in members:
            tone = graph.tones[node_id]
            shape = ", shape=cylinder" if cluster == "audit" else ""
            out.append(
                f'    "{node_id}" [label={_label(graph.labels[node_id])}, fillcolor="{FILL[tone]}", '
                f'color="{BORDER[tone]}"{shape}];'
            )
        out.append("  }")
    for tail, head, lines, style in graph.edges:
        constraint = ", constraint=false" if style == "ladder" and _backwards(graph, head) else ""
        out.append(
            f'  "{tail}" -> "{head}" [label={_label(lines, bold_first=False)}, {EDGE_STYLE[style]}{constraint}];'
        )
    out.append("}")
    return "\n".join(out) + "\n"


def _backwards(graph: _Graph, node_id: str) -> bool:
    """A ladder edge to a role that also acts under grants (drawn left of the actions) must not pull the layout."""
    return node_id in graph.clusters.get("grantees", [])


def dot_binary() -> str:
    """The `dot` command; Unavailable with how to install Graphviz when it is missing."""
    found = shutil.which("dot")
    if found is None:
        raise Unavailable(INSTALL_GRAPHVIZ)
    return found


def render_svg(dot: str, *, timeout: float = DOT_TIMEOUT_SECONDS) -> str:
    """Lay `dot` out with Graphviz and return the SVG text.

    Raises:
        Unavailable: Graphviz is not installed, failed, or took longer than `timeout` seconds.
    """
    binary = dot_binary()
    try:
        done = subprocess.run([binary, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"graphviz did not lay the diagram out within {timeout:.0f} s") from None
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()
        raise Unavailable(f"graphviz failed: {problem[0] if problem else f'exit {done.returncode}'}")
    return done.stdout.decode()


SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
_SVG_ELEMENTS = frozenset({"svg", "g", "title", "desc", "path", "polygon", "polyline", "ellipse", "text", "tspan"})
_SVG_ELEMENTS |= {"rect", "line", "circle", "defs"}


def inline_svg(svg: str) -> str:
    """Graphviz's SVG made fit to inline in an HTML page: no prolog or doctype, only drawing elements, no event
    handler attributes and no links (defence in depth: every name in it was escaped when the DOT was written)."""
    ElementTree.register_namespace("", SVG)
    ElementTree.register_namespace("xlink", XLINK)
    root = ElementTree.fromstring(svg)  # our own dot output, parsed to clean it
    _clean(root)
    for size in ("width", "height"):  # the viewBox stays: the picture scales to the page's width
        root.attrib.pop(size, None)
    root.set("role", "img")
    root.set("aria-label", "One-page governance diagram")
    return ElementTree.tostring(root, encoding="unicode")


def _clean(element: ElementTree.Element) -> None:
    for child in list(element):
        if child.tag.removeprefix(f"{{{SVG}}}") not in _SVG_ELEMENTS:
            element.remove(child)
        else:
            _clean(child)
    for name in list(element.attrib):
        local = name.rsplit("}", 1)[-1].lower()
        if local.startswith("on") or local == "href" or local == "style":
            del element.attrib[name]


# --- Mermaid ---------------------------------------------------------------------------------------------------

_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
_MERMAID_TONE = {
    "good": "fill:#e3f4e8,stroke:#1e7b3c",
    "attention": "fill:#fff3cd,stroke:#8a6100",
    "bad": "fill:#fde2e1,stroke:#9b1c1c",
    "neutral": "fill:#f1f3f5,stroke:#5c6670",
}
_MERMAID_ARROW = {"grant": "-->", "ladder": "-.->", "coverage": "-.->", "audit": "==>"}


def _mermaid_text(lines: Iterable[str]) -> str:
    """Quoted Mermaid label text: entity codes for # " < > &, lines joined with <br/>."""
    escaped = ["".join(_MERMAID_ENTITIES.get(char, char) for char in _CONTROL.sub(" ", line)) for line in lines]
    return '"' + "<br/>".join(escaped) + '"'


def to_mermaid(picture: Picture) -> str:
    """The picture as Mermaid flowchart text (the same nodes and edges as the DOT, laid out by Mermaid)."""
    graph = _graph(picture)
    out = ["flowchart LR", *(f"  %% {_mermaid_text([line])[1:-1]}" for line in _title(picture))]
    for cluster, members in graph.clusters.items():
        out.append(f"  subgraph {cluster}[{_mermaid_text([CLUSTERS[cluster]])}]")
        out += [f"    {node_id}[{_mermaid_text(graph.labels[node_id])}]" for node_id in members]
        out.append("  end")
    for tail, head, lines, style in graph.edges:
        out.append(f"  {tail} {_MERMAID_ARROW[style]}|{_mermaid_text(lines)}| {head}")
    for tone, fill in _MERMAID_TONE.items():
        out.append(f"  classDef {tone} {fill}")
        members = [node_id for node_id, found in graph.tones.items() if found == tone]
        if members:
            out.append(f"  class {','.join(members)} {tone}")
    return "\n".join(out) + "\n"
