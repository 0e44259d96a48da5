"""The charter loads the reference file unchanged; every load error names file, line and key."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cxgov.charter import CharterCache, charter_gaps, load_charter
from cxgov.errors import CharterError
from cxgov.settings import EXAMPLES

REFERENCE = EXAMPLES / "charter.yaml"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "examples" / "charter.yaml"


def variant(tmp_path: Path, old: str, new: str, *, count: int = 1) -> Path:
    text = REFERENCE.read_text()
    assert text.count(old) >= count, f"{old!r} not in the reference charter"
    path = tmp_path / "charter.yaml"
    path.write_text(text.replace(old, new, count))
    return path


def test_reference_charter_is_the_shared_one_unchanged() -> None:
    if SHARED.exists():
        assert REFERENCE.read_bytes() == SHARED.read_bytes()


def test_reference_charter_loads_with_its_meaning() -> None:
    charter = load_charter(REFERENCE)
    assert (charter.charter, charter.version, charter.currency, charter.retention_days) == (
        "acme-retail",
        3,
        "USD",
        2555,
    )
    assert charter.drills.every == timedelta(days=30) and charter.drills.max_age == timedelta(days=90)
    assert charter.people["ben"].approve_limit == Decimal(300)
    assert charter.people["dana"].approve_limit is None
    assert charter.roles["support-lead"].coverage == "duty-manager"
    assert charter.actors["insights-partner"].recertify_by == date(2026, 6, 1)
    refund = charter.actions["refund"]
    assert refund.params == {"order_id": "string", "sku": "string", "amount": "money"}
    assert refund.amount_param == "amount"
    assert refund.excluded_skus == ["FINAL-*", "GIFT-*"]
    assert (refund.reversal.kind, refund.reversal.until, refund.reversal.owner) == ("until", "payout", "finance-ops")
    assert refund.approval is not None and refund.approval.step_timeout == timedelta(hours=4)
    assert charter.actions["cancel_order"].reversal.window == timedelta(hours=24)
    assert charter.actions["share_customer_data"].approval.ladder == ["legal", "duty-manager"]  # type: ignore[union-attr]
    assert len(charter.grants) == 8
    assert charter.grants[0].budget is not None and charter.grants[0].budget.count == 300
    assert charter.grants[7].require_approval is True
    assert charter.members("support-lead") == ["ana", "ben"]


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "problem"),
    [
        (
            "  - {function: finance, by: farid, on: 2026-11-21}\n",
            "",
            17,
            "required_signoffs[1]",
            "sign-off of 'finance'",
        ),
        ("max_amount: 200 ", "max_amout: 200 ", 82, "grants[0].max_amout", "Extra inputs"),
        ("step_timeout: 4h", "step_timeout: 4 hours", 55, "actions.refund.approval.step_timeout", "not a duration"),
        (
            "kind: until                ",
            "kind: sometimes            ",
            51,
            "actions.refund.reversal.kind",
            "Input should be",
        ),
        ("approve_limit: 300}", "approve_limit: -5}", 25, "people.ben.approve_limit", "greater than or equal to 0"),
        (
            "on_timeout: deny}\n  change",
            "on_timeout: approve}\n  change",
            55,
            "actions.refund.approval.on_timeout",
            "'deny'",
        ),
        ("version: 3 ", "version: three ", 9, "version", "valid integer"),
        ("  - actor: returns-sync\n", "  - actor: returns-sync\n    role: tier1\n", 101, "grants[6]", "exactly one of"),
        (
            "approve_above: 50 ",
            "approve_above: 500 ",
            83,
            "grants[0].approve_above",
            "approve_above 500 is above max_amount 200",
        ),
        ("by: dana,", "by: dora,", 19, "signoffs[0].by", "not one of the charter's people"),
    ],
)
def test_load_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, problem: str
) -> None:
    path = variant(tmp_path, old, new)
    with pytest.raises(CharterError) as caught:
        load_charter(path)
    err = caught.value
    assert err.path == str(path)
    assert err.key == key, err.message
    assert problem in err.message
    assert err.line == line, err.message
    assert err.message.startswith(f"{path}:{line}: {key}: ")
    assert "\n" not in err.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = variant(tmp_path, "currency: USD", "currency: [USD")
    with pytest.raises(CharterError, match=r"charter\.yaml:\d+: YAML syntax error") as caught:
        load_charter(path)
    assert caught.value.line is not None and 9 <= caught.value.line <= 12


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = variant(tmp_path, "currency: USD\n", "currency: USD\ncurrency: EUR\n")
    with pytest.raises(CharterError, match="YAML syntax error"):
        load_charter(path)


def test_actor_and_person_with_one_name(tmp_path: Path) -> None:
    path = variant(tmp_path, "  omar:  {roles: [tier1]}", "  returns-sync: {roles: [tier1]}")
    with pytest.raises(CharterError, match="both an actor and a person"):
        load_charter(path)


@pytest.mark.parametrize(("content", "problem"), [("", "is empty"), ("- a\n- b\n", "must be a mapping")])
def test_empty_or_wrong_shape(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "charter.yaml"
    path.write_text(content)
    with pytest.raises(CharterError, match=problem):
        load_charter(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CharterError, match="file not found"):
        load_charter(tmp_path / "nope.yaml")


def test_cache_reloads_on_change_and_never_serves_a_broken_file(tmp_path: Path) -> None:
    path = variant(tmp_path, "version: 3 ", "version: 3 ")
    cache = CharterCache(path)
    assert cache.get().version == 3
    assert cache.get() is cache.get()
    path.write_text(path.read_text().replace("version: 3 ", "version: 4 ", 1))
    assert cache.get().version == 4
    path.write_text("charter: [broken")
    with pytest.raises(CharterError):
        cache.get()


TODAY = date(2026, 11, 27)


def kinds(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for gap in charter_gaps(load_charter(path), today=TODAY):
        found.setdefault(gap.kind, []).append(gap.subject)
    return found


def test_reference_gaps() -> None:
    assert kinds(REFERENCE) == {
        "no-reversal-owner": ["action share_customer_data"],
        "recertification-overdue": ["actor insights-partner"],
    }


def test_gap_kinds(tmp_path: Path) -> None:
    assert (
        "role legal"
        in kinds(variant(tmp_path, "  dana:  {roles: [legal]}", "  dana:  {roles: []}"))["ladder-role-without-people"]
    )
    grant = "  - actor: support-bot\n    action: book_appointment\n"
    extra = grant + "  - actor: support-bot\n    action: share_customer_data\n"
    assert kinds(variant(tmp_path, grant, extra))["irreversible-without-approval"] == ["actor support-bot"]
    unknown = grant + "  - actor: ghost-bot\n    action: teleport\n  - role: wizards\n    action: refund\n"
    assert len(kinds(variant(tmp_path, grant, unknown))["unknown-name"]) == 3
    twice = grant + grant
    assert kinds(variant(tmp_path, grant, twice))["overlapping-grants"] == ["support-bot / book_appointment"]
