"""The one-page governance diagram: what it names, that Graphviz really lays it out, Mermaid text, escaping of odd
charter names, and `cxgov diagram` as a real process (also without Graphviz on PATH)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from datetime import timedelta
from pathlib import Path

import pytest
from cli.clikit import child_env, run_subprocess
from governance.govkit import NOW, drill
from harness import REFERENCE_CHARTER, write_charter

from cxgov.charter import Charter, load_charter
from cxgov.diagram import Picture, inline_svg, read_picture, render_svg, to_dot, to_mermaid
from cxgov.drills.ledger import DrillLedger

ODD_ACTOR = 'bot "x" <script>alert(1)</script> & {co}\\'
ODD_ROLE = "r&d <team> #1"


@pytest.fixture
def picture(tmp_path: Path) -> Picture:
    """The reference charter at NOW with one action in each drill state."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    ledger = DrillLedger(url)
    try:
        drill(ledger, "refund", finished=NOW - timedelta(days=3))
        drill(ledger, "change_address", finished=NOW - timedelta(days=2), passed=False, step="verify", reason="x")
        drill(ledger, "cancel_order", finished=NOW - timedelta(days=120))
    finally:
        ledger.close()
    return read_picture(load_charter(REFERENCE_CHARTER), audit_url=url, now=NOW)


def test_the_dot_names_every_actor_role_action_limit_and_drill_state(picture: Picture) -> None:
    dot = to_dot(picture)
    charter = picture.charter
    for name in [*charter.actors, *charter.roles, *charter.actions, *charter.people]:
        assert name in dot, name
    assert "AI agent, owner ana" in dot and "recertify by 2027-03-01" in dot
    assert "RECERTIFICATION OVERDUE since 2026-06-01" in dot  # insights-partner, in words as well as in red
    assert "max 200 USD" in dot and "approval above 50 USD" in dot and "channels chat, email" in dot
    assert "segments standard, gold" in dot and "budget per 1d: 300 requests, 5,000 USD" in dot
    assert "max 1,000 USD" in dot and "approval above 300 USD" in dot  # the tier1 role's grant
    assert "approval always" in dot  # insights-partner's require_approval
    assert "never for SKUs FINAL-*, GIFT-*" in dot
    assert "ana: approves up to 1,000 USD" in dot and "dana: approves no money" in dot
    assert "drill: passed 2026-11-24" in dot
    assert "drill: FAILING since 2026-11-25 (step verify)" in dot
    assert "drill: OVERDUE, last pass 2026-07-30" in dot
    assert "drill: NEVER drilled" in dot  # book_appointment
    assert "IRREVERSIBLE" in dot and "reversal owner: NOBODY" in dot  # share_customer_data
    assert "reversible until payout" in dot and "reversible within 1d" in dot and "reversible always" in dot
    assert "approval step 1, 4h each" in dot and "approval step 2, 1d each" in dot  # legal then duty-manager
    assert "covers when nobody answers" in dot
    assert "kept 2555 days" in dot and "audit.db" in dot
    assert "rankdir=LR" in dot  # laid out by Graphviz, left to right: no coordinates of our own
    assert "pos=" not in dot
    assert dot.count(" -> ") == len(charter.grants) + 5 + 2 + 1  # grants, ladder steps, coverage, audit


def test_graphviz_lays_it_out_as_svg(picture: Picture) -> None:
    svg = render_svg(to_dot(picture))
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(node.text or "" for node in root.iter("{http://www.w3.org/2000/svg}text"))
    for name in [*picture.charter.actors, *picture.charter.actions, "support-lead", "duty-manager"]:
        assert name in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) >= len(picture.charter.grants)
    inline = inline_svg(svg)
    assert inline.startswith("<svg") and "<?xml" not in inline and "DOCTYPE" not in inline
    assert 'role="img"' in inline and "viewBox" in inline


def test_mermaid_is_a_flowchart_with_every_node(picture: Picture) -> None:
    text = to_mermaid(picture)
    assert text.startswith("flowchart LR\n")
    nodes = re.findall(r"^    (\w+)\[", text, flags=re.MULTILINE)
    charter = picture.charter
    assert len(nodes) == len(charter.actors) + len(charter.roles) + len(charter.actions) + 1  # + the audit archive
    for name in [*charter.actors, *charter.roles, *charter.actions]:
        assert re.search(rf'\["{re.escape(name)}(<br/>| \(|")', text), name
    edges = re.findall(r"^  (\w+) (-->|-\.->|==>)\|\"[^\"]*\"\| (\w+)$", text, flags=re.MULTILINE)
    assert len(edges) == len(charter.grants) + 5 + 2 + 1
    assert all(tail in nodes and head in nodes for tail, _, head in edges)
    assert text.count("subgraph ") == text.count("\n  end\n")


def odd_charter(tmp_path: Path) -> Charter:
    path = write_charter(
        tmp_path,
        ("  support-bot:      {kind: ai_agent,", f"  {yaml_quoted(ODD_ACTOR)}: {{kind: ai_agent,"),
        ("  - actor: support-bot\n    action: refund\n", f"  - actor: {yaml_quoted(ODD_ACTOR)}\n    action: refund\n"),
        ("  tier1:        {}", f"  tier1:        {{}}\n  {yaml_quoted(ODD_ROLE)}: {{coverage: duty-manager}}"),
        ("  omar:  {roles: [tier1]}", f"  omar:  {{roles: [tier1, {yaml_quoted(ODD_ROLE)}]}}"),
    )
    charter = load_charter(path)
    assert ODD_ACTOR in charter.actors and ODD_ROLE in charter.roles
    return charter


def yaml_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_odd_names_are_escaped_in_dot_svg_and_mermaid(tmp_path: Path) -> None:
    charter = odd_charter(tmp_path)
    picture = read_picture(charter, audit_url=f"sqlite:///{tmp_path / 'none' / 'audit.db'}", now=NOW)
    dot = to_dot(picture)
    assert "<script>" not in dot and "&lt;script&gt;alert(1)&lt;/script&gt;" in dot
    assert "&quot;x&quot;" in dot and "&amp; {co}\\" in dot and "r&amp;d &lt;team&gt; #1" in dot
    svg = render_svg(dot)  # Graphviz accepts it: every label is a well-formed HTML-like label
    root = ElementTree.fromstring(svg)
    texts = [node.text or "" for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert ODD_ACTOR in texts and ODD_ROLE in texts  # drawn exactly as named
    inline = inline_svg(svg)
    assert "<script" not in inline.lower() and "onload" not in inline.lower()
    mermaid = to_mermaid(picture)
    assert "<script>" not in mermaid and '"x"' not in mermaid
    assert "#lt;script#gt;" in mermaid and "#quot;x#quot;" in mermaid and "r#amp;d #lt;team#gt; #35;1" in mermaid


def test_inline_svg_drops_scripts_handlers_and_links() -> None:
    hostile = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" '
        'height="10pt" viewBox="0 0 10 10" onload="steal()"><script>steal()</script>'
        '<g><a xlink:href="https://elsewhere.example/"><text>x</text></a><text onclick="steal()">ok</text>'
        "<foreignObject><div>html</div></foreignObject></g></svg>"
    )
    cleaned = inline_svg(hostile)
    for bad in ("script", "steal", "onload", "onclick", "href", "elsewhere", "foreignObject", "width="):
        assert bad not in cleaned, bad
    assert ">ok</text>" in cleaned


def test_cxgov_diagram_runs_as_a_real_process(tmp_path: Path) -> None:
    env = child_env({"CXGOV_HOME": str(tmp_path / "home"), "CXGOV_CHARTER": str(REFERENCE_CHARTER)})
    out = tmp_path / "governance.svg"
    done = run_subprocess("diagram", "-o", str(out), env=env)
    assert done.code == 0, done.err
    assert f"wrote {out} (svg)" in done.err
    texts = " ".join(node.text or "" for node in ElementTree.parse(out).iter("{http://www.w3.org/2000/svg}text"))
    assert "support-bot" in texts and "insights-partner" in texts
    assert not (tmp_path / "home" / "audit.db").exists()  # drawing reads; it never creates the archive
    mermaid = run_subprocess("diagram", "--format", "mermaid", env=env)
    assert mermaid.code == 0 and mermaid.out.startswith("flowchart LR")
    dot = run_subprocess("diagram", "--format", "dot", env=env)
    assert dot.code == 0 and dot.out.startswith("digraph governance {")
    bad = run_subprocess("diagram", "--format", "png", env=env)
    assert bad.code == 2 and "png" in bad.err and "Traceback" not in bad.err


def test_without_graphviz_svg_says_to_install_it_and_mermaid_still_works(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = child_env({"CXGOV_HOME": str(tmp_path / "home"), "CXGOV_CHARTER": str(REFERENCE_CHARTER)})
    env["PATH"] = str(empty)  # no `dot` anywhere
    done = run_subprocess("diagram", env=env)
    assert done.code == 1
    assert done.err.strip().splitlines() == [done.err.strip()]  # one line, no traceback
    assert "graphviz is not installed" in done.err and "apt-get install graphviz" in done.err
    assert "--format mermaid" in done.err
    mermaid = run_subprocess("diagram", "--format", "mermaid", env=env)
    assert mermaid.code == 0 and "support-bot" in mermaid.out


def test_dot_binary_is_the_real_graphviz() -> None:
    found = shutil.which("dot")
    assert found is not None, "graphviz is not installed: `make test` installs it (scripts/ensure-system-packages)"
    version = subprocess.run([found, "-V"], capture_output=True, text=True, check=True)
    assert "graphviz" in version.stderr.lower()
