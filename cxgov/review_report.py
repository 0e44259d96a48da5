"""The quarterly review as one self-contained HTML file: matplotlib charts inlined as SVG, a table of the same
numbers beside every chart, no external stylesheet, script, font or image (it opens offline, and mails as one
attachment)."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

import matplotlib
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from cxgov.review import GAP_STILL_OPEN_DAYS, Review

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PALETTE = ["#1f4e79", "#2e8540", "#b8860b", "#9b1c1c", "#6f42c1", "#5c6670", "#0f7c8c", "#c45500"]
BAD_STATUSES = frozenset({"denied", "expired", "failed", "compensated", "compensation_failed", "reversal_failed"})
BREAK_KINDS = ("compensated", "compensation failed", "reversal failed", "drill failed")
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _svg(figure: Figure, name: str, title: str) -> Markup:
    """The figure as SVG to inline: text kept as text, no prolog, no metadata, ids unique to this chart."""
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOG.sub("", out.getvalue(), count=1))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(svg)  # matplotlib's own SVG: it escaped every text in it


def _counts_on(axis: Any) -> None:
    """Whole numbers only on an axis of counts."""
    axis.set_major_locator(MaxNLocator(integer=True))


def _figure(height: float = 3.0) -> Figure:
    figure = Figure(figsize=(7.2, height), dpi=100)
    figure.set_facecolor("white")
    return figure


def _nothing(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#5c6670", transform=axes.transAxes)
    axes.set_axis_off()


def outcomes_chart(review: Review) -> Markup:
    """Actions by actor, stacked by outcome (hatched: outcomes where the action did not go through)."""
    actors = sorted(review.outcomes, key=lambda actor: -sum(review.outcomes[actor].values()))
    figure = _figure(max(2.2, 0.55 * len(actors) + 1.4))
    axes = figure.add_subplot()
    if not actors:
        _nothing(axes, f"No actions archived in {review.quarter.label}")
    left = [0] * len(actors)
    for index, status in enumerate(review.statuses):
        counts = [review.outcomes[actor][status] for actor in actors]
        bars = axes.barh(
            actors,
            counts,
            left=left,
            label=status.replace("_", " "),
            color=PALETTE[index % len(PALETTE)],
            hatch="//" if status in BAD_STATUSES else None,
            edgecolor="white",
        )
        axes.bar_label(bars, labels=[str(c) if c else "" for c in counts], label_type="center", color="white")
        left = [a + b for a, b in zip(left, counts, strict=True)]
    if actors:
        axes.invert_yaxis()
        axes.set_xlabel("actions")
        _counts_on(axes.xaxis)
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=4, frameon=False, fontsize=9)
        axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "outcomes", "Actions by actor and outcome")


def approvals_chart(review: Review) -> Markup:
    """Approval attempts by verdict (and refusals), and the time from request to each accepted decision."""
    counts = approval_counts(review)
    figure = _figure(2.8)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    bars = left.bar(list(counts), list(counts.values()), color=[PALETTE[1], PALETTE[3], PALETTE[2]])
    for bar, hatch in zip(bars, ("", "//", "xx"), strict=True):
        bar.set_hatch(hatch)
    left.bar_label(bars)
    left.set_title("attempts", fontsize=10)
    _counts_on(left.yaxis)
    left.spines[["top", "right"]].set_visible(False)
    minutes = decision_minutes(review)
    if minutes:
        unit, scale = time_unit(max(minutes))
        right.hist([value * scale for value in minutes], bins=min(12, max(3, len(minutes))), color=PALETTE[0])
        right.set_xlabel(f"{unit} from request to decision")
        right.set_ylabel("decisions")
        _counts_on(right.yaxis)
        right.spines[["top", "right"]].set_visible(False)
        right.set_title("time to decide", fontsize=10)
    else:
        _nothing(right, "no timed decisions")
    return _svg(figure, "approvals", "Approvals: attempts and time to decide")


def breaks_chart(review: Review) -> Markup:
    counts = break_counts(review)
    figure = _figure(2.4)
    axes = figure.add_subplot()
    bars = axes.barh(list(counts), list(counts.values()), color=PALETTE[3], hatch="//", edgecolor="white")
    axes.bar_label(bars, padding=3)
    axes.invert_yaxis()
    axes.set_xlabel("occurrences")
    _counts_on(axes.xaxis)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "breaks", "Breaks: compensations, failed reversals, failed drills")


def gaps_chart(review: Review) -> Markup:
    """Requests per gap group; hatched and labelled "open" when the gap is still open."""
    groups = review.gaps[:15]
    figure = _figure(max(2.0, 0.45 * len(groups) + 1.2))
    axes = figure.add_subplot()
    if not groups:
        _nothing(axes, f"No request fell outside the charter in {review.quarter.label}")
        return _svg(figure, "gaps", "Gap requests by actor and action")
    names = [f"{group.actor} → {group.action}" for group in groups]
    bars = axes.barh(
        names,
        [group.requests for group in groups],
        color=[PALETTE[3] if group.still_open else PALETTE[1] for group in groups],
        hatch=None,
        edgecolor="white",
    )
    for bar, group in zip(bars, groups, strict=True):
        bar.set_hatch("//" if group.still_open else "")
    axes.bar_label(bars, labels=[f"{g.requests} ({'open' if g.still_open else 'closed'})" for g in groups], padding=3)
    axes.invert_yaxis()
    axes.set_xlabel("gap requests")
    _counts_on(axes.xaxis)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "gaps", "Gap requests by actor and action")


def versions_chart(review: Review) -> Markup:
    figure = _figure(2.2)
    axes = figure.add_subplot()
    if not review.versions:
        _nothing(axes, "No decisions archived in the quarter")
        return _svg(figure, "versions", "Decisions per charter version")
    names = [f"v{seen.version}" if seen.version is not None else "none" for seen in review.versions]
    bars = axes.bar(names, [seen.decisions for seen in review.versions], color=PALETTE[0])
    axes.bar_label(bars)
    axes.set_ylabel("decisions")
    _counts_on(axes.yaxis)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "versions", "Decisions per charter version")


def approval_counts(review: Review) -> dict[str, int]:
    counted = Counter(
        ("approved" if d.verdict == "approve" else "denied") if d.accepted else "refused" for d in review.decided
    )
    return {name: counted[name] for name in ("approved", "denied", "refused")}


def decision_minutes(review: Review) -> list[float]:
    return [d.minutes_after_request for d in review.decided if d.accepted and d.minutes_after_request is not None]


def break_counts(review: Review) -> dict[str, int]:
    counted = Counter(found.kind for found in review.breaks)
    return {kind: counted[kind] for kind in BREAK_KINDS}


def time_unit(largest_minutes: float) -> tuple[str, float]:
    """The unit that reads best for durations up to `largest_minutes`, and the factor from minutes."""
    if largest_minutes < 2:
        return "seconds", 60.0
    if largest_minutes < 180:
        return "minutes", 1.0
    return "hours", 1 / 60


def duration(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    unit, scale = time_unit(minutes)
    return f"{minutes * scale:.1f} {unit}"


def timing(review: Review) -> dict[str, str]:
    minutes = sorted(decision_minutes(review))
    if not minutes:
        return {"decisions timed": "0", "median": "—", "90th percentile": "—", "longest": "—"}
    p90 = minutes[min(len(minutes) - 1, round(0.9 * (len(minutes) - 1)))]
    return {
        "decisions timed": str(len(minutes)),
        "median": duration(statistics.median(minutes)),
        "90th percentile": duration(p90),
        "longest": duration(minutes[-1]),
    }


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def render_review(review: Review, *, audit_store: str) -> str:
    """The review as one HTML document."""
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["when"] = _when
    environment.filters["label"] = lambda text: str(text).replace("_", " ")
    template = environment.from_string(TEMPLATE)
    return template.render(
        r=review,
        audit_store=audit_store,
        gap_days=GAP_STILL_OPEN_DAYS,
        charts={
            "versions": versions_chart(review),
            "outcomes": outcomes_chart(review),
            "approvals": approvals_chart(review),
            "breaks": breaks_chart(review),
            "gaps": gaps_chart(review),
        },
        approvals=approval_counts(review),
        timing=timing(review),
        breaks=break_counts(review),
        refused=[d for d in review.decided if not d.accepted],
        open_gaps=sum(1 for group in review.gaps if group.still_open),
    )


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Governance review {{ r.quarter.label }}: {{ r.charter }}</title>
<style>
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #1b1f23; margin: 2rem auto;
  max-width: 72rem; padding: 0 1.5rem; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-bottom: 2px solid #dee2e6; }
.muted { color: #5c6670; } .small { font-size: .85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr)); gap: .8rem; margin: 1.2rem 0; }
.card { border: 1px solid #ced4da; border-radius: .5rem; padding: .6rem .8rem; }
.card b { display: block; font-size: 1.6rem; }
.pair { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2rem; align-items: start; }
@media (max-width: 60rem) { .pair { grid-template-columns: 1fr; } }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #5c6670; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid #dee2e6; padding: .3rem .5rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.open { color: #9b1c1c; font-weight: bold; } .closed { color: #1e7b3c; }
.note { background: #f1f3f5; border-left: 4px solid #5c6670; padding: .5rem .8rem; font-size: .88rem; }
</style>
</head>
<body>
<header>
<h1>Governance review {{ r.quarter.label }}</h1>
<p class="muted">Charter {{ r.charter }} v{{ r.charter_version }} (live) · {{ r.quarter.start | when }} up to
  {{ r.quarter.end | when }} · written {{ r.generated_at | when }} · audit archive {{ audit_store }}</p>
</header>
<section class="cards" aria-label="The quarter in numbers">
  <div class="card"><b>{{ r.actions }}</b>actions archived</div>
  <div class="card"><b>{{ approvals.approved + approvals.denied }}</b>approval decisions</div>
  <div class="card"><b>{{ approvals.refused }}</b>refused approval attempts</div>
  <div class="card"><b>{{ r.breaks | length }}</b>breaks</div>
  <div class="card"><b>{{ open_gaps }}</b>gaps still open</div>
  <div class="card"><b>{{ r.overdue | length }}</b>overdue recertifications</div>
  <div class="card"><b>{{ r.interventions | length }}</b>overrides and freezes</div>
</section>

<h2 id="charter">1. Charter changes and sign-offs</h2>
<div class="pair">
<figure>{{ charts.versions }}<figcaption>Decisions per charter version (each archived decision carries the version
  that made it).</figcaption></figure>
<div>
<table aria-label="Charter versions seen"><thead><tr><th>Version</th><th class="num">Decisions</th><th>First used</th><th>Last used</th></tr></thead>
<tbody>{% for v in r.versions %}<tr><td>{{ "v" ~ v.version if v.version is not none else "none (not decided)" }}</td><td class="num">{{ v.decisions }}</td><td>{{ v.first_seen | when }}</td><td>{{ v.last_seen | when }}</td></tr>
{% else %}<tr><td colspan="4">No decisions archived in the quarter.</td></tr>{% endfor %}</tbody></table>
<p>{{ r.versions | length }} version(s) decided requests; {{ [r.versions | length - 1, 0] | max }} change(s) of version in the quarter.</p>
<table aria-label="Sign-offs of the live charter"><thead><tr><th>Function</th><th>Signed off by</th><th>On</th></tr></thead>
<tbody>{% for s in r.signoffs %}<tr><td>{{ s.function }}</td><td>{{ s.by }}</td><td>{{ s.on }}</td></tr>
{% else %}<tr><td colspan="3">No sign-offs declared.</td></tr>{% endfor %}</tbody></table>
</div></div>

<h2 id="actions">2. Actions by actor and outcome</h2>
<div class="pair">
<figure>{{ charts.outcomes }}<figcaption>Each action once, by its final status (hatched: it did not go through as
  asked).</figcaption></figure>
<table aria-label="Actions by actor and outcome"><thead><tr><th>Actor</th>{% for s in r.statuses %}<th class="num">{{ s | label }}</th>{% endfor %}<th class="num">Total</th></tr></thead>
<tbody>{% for actor, counts in r.outcomes | dictsort %}<tr><td>{{ actor }}</td>{% for s in r.statuses %}<td class="num">{{ counts[s] }}</td>{% endfor %}<td class="num">{{ counts.values() | sum }}</td></tr>
{% else %}<tr><td>No actions archived in {{ r.quarter.label }}.</td></tr>{% endfor %}</tbody></table>
</div>

<h2 id="approvals">3. Approvals</h2>
<div class="pair">
<figure>{{ charts.approvals }}<figcaption>Approval attempts by result, and the time from the request to each
  accepted approval or denial.</figcaption></figure>
<div>
<table aria-label="Approval attempts"><thead><tr><th>Attempts</th><th class="num">Count</th></tr></thead>
<tbody>{% for name, count in approvals.items() %}<tr><td>{{ name }}</td><td class="num">{{ count }}</td></tr>{% endfor %}</tbody></table>
<table aria-label="Time to decide"><thead><tr><th>Time to decide</th><th class="num"></th></tr></thead>
<tbody>{% for name, value in timing.items() %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td></tr>{% endfor %}</tbody></table>
</div></div>
<table aria-label="Refused approval attempts"><thead><tr><th>When</th><th>Who</th><th>Tried to</th><th>Action</th><th>Why refused</th></tr></thead>
<tbody>{% for d in refused %}<tr><td>{{ d.at | when }}</td><td>{{ d.person }}</td><td>{{ d.verdict }}</td><td>{{ d.action_id }}</td><td>{{ d.refusal or "refused" }}</td></tr>
{% else %}<tr><td colspan="5">No refused approval attempts.</td></tr>{% endfor %}</tbody></table>
<p class="note">Time to decide runs from the request (the first event of the action's archived history) to each
  accepted approve or deny; refused attempts are counted, not timed.</p>

<h2 id="breaks">4. Breaks</h2>
<div class="pair">
<figure>{{ charts.breaks }}<figcaption>Compensations (the saga undid an effect), failed reversals and failed
  reversal drills.</figcaption></figure>
<table aria-label="Breaks by kind"><thead><tr><th>Kind</th><th class="num">Count</th></tr></thead>
<tbody>{% for kind, count in breaks.items() %}<tr><td>{{ kind }}</td><td class="num">{{ count }}</td></tr>{% endfor %}
<tr><td>reversals run</td><td class="num">{{ r.reversals }}</td></tr><tr><td>drills run</td><td class="num">{{ r.drills_run }}</td></tr></tbody></table>
</div>
<table aria-label="Every break"><thead><tr><th>When</th><th>Kind</th><th>What</th><th>Detail</th></tr></thead>
<tbody>{% for b in r.breaks %}<tr><td>{{ b.at | when }}</td><td>{{ b.kind }}</td><td>{{ b.subject }}</td><td>{{ b.detail }}</td></tr>
{% else %}<tr><td colspan="4">No breaks recorded.</td></tr>{% endfor %}</tbody></table>

<h2 id="gaps">5. Gaps opened and closed</h2>
<figure>{{ charts.gaps }}<figcaption>Requests no rule covered, by actor and action (hatched: still open).</figcaption></figure>
<table aria-label="Gap groups"><thead><tr><th>Actor → action</th><th class="num">Requests</th><th>First</th><th>Last</th><th>Opened</th><th>Now</th></tr></thead>
<tbody>{% for g in r.gaps %}<tr><td>{{ g.actor }} → {{ g.action }}</td><td class="num">{{ g.requests }}</td><td>{{ g.first_seen | when }}</td><td>{{ g.last_seen | when }}</td><td>{{ "this quarter" if g.opened_in_quarter else "before" }}</td>
<td class="{{ 'open' if g.still_open else 'closed' }}">{{ "open" if g.still_open else "closed" }}: {{ g.why }}</td></tr>
{% else %}<tr><td colspan="6">No gap requests in {{ r.quarter.label }}.</td></tr>{% endfor %}</tbody></table>
<p class="note">How this is computed: a gap group is the quarter's requests of one actor for one action that no
  grant covered. It was <b>opened this quarter</b> when the archive holds no earlier gap request of the group. It is
  <b>still open</b> when it was requested in the last {{ gap_days }} days of the quarter, or the live charter still
  grants nothing for it; otherwise <b>closed</b>: the charter covers it now and nobody has hit it lately.</p>
<table aria-label="Gaps in the live charter"><thead><tr><th>Charter gap</th><th>About</th><th>Detail</th></tr></thead>
<tbody>{% for g in r.charter_gaps %}<tr><td>{{ g.kind | label }}</td><td>{{ g.subject }}</td><td>{{ g.detail }}</td></tr>
{% else %}<tr><td colspan="3">The live charter has no gaps.</td></tr>{% endfor %}</tbody></table>

<h2 id="recertification">6. Overdue recertifications</h2>
<table aria-label="Overdue recertifications"><thead><tr><th>Actor</th><th>Owner</th><th>Due</th><th class="num">Days overdue</th><th class="num">Requests denied for it</th></tr></thead>
<tbody>{% for o in r.overdue %}<tr><td>{{ o.actor }}</td><td>{{ o.owner }}</td><td>{{ o.due }}</td><td class="num">{{ o.days_overdue }}</td><td class="num">{{ o.denied_requests }}</td></tr>
{% else %}<tr><td colspan="5">Every actor was certified through the quarter.</td></tr>{% endfor %}</tbody></table>

<h2 id="interventions">7. Overrides and freezes</h2>
<table aria-label="Overrides and freezes"><thead><tr><th>When</th><th>Kind</th><th>By</th><th>Scope</th><th>Reason</th></tr></thead>
<tbody>{% for i in r.interventions %}<tr><td>{{ i.at | when }}</td><td>{{ i.kind }}</td><td>{{ i.by }}</td><td>{{ i.scope }}</td><td>{{ i.reason }}</td></tr>
{% else %}<tr><td colspan="5">None recorded.</td></tr>{% endfor %}</tbody></table>

<footer class="small muted"><p>Written by <code>cxgov review --quarter {{ r.quarter.label }}</code> from the audit
  archive, the drill ledger and the live charter. Self-contained: no part of this page is fetched from anywhere.</p></footer>
</body>
</html>
"""
