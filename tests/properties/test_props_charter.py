"""Property: whatever is written in a charter file, it loads as a usable charter or is refused with one CharterError
naming the file (and the line and key where there is one); no other exception ever leaves the loader."""

from __future__ import annotations

import copy
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import CHARTER
from hypothesis import given
from hypothesis import strategies as st
from propkit import PROPERTIES, assert_one_clear_line, deep_junk, huge_texts, junk, texts
from ruamel.yaml import YAML

from cxgov.charter import charter_gaps, load_charter
from cxgov.charter.loader import charter_from_text
from cxgov.charter.models import Charter
from cxgov.errors import CharterError

REFERENCE_TEXT = CHARTER.read_text()
REFERENCE: dict[str, Any] = YAML(typ="safe").load(REFERENCE_TEXT)

Path_ = tuple[str | int, ...]


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(REFERENCE)
NAMES = [*REFERENCE["people"], *REFERENCE["actors"], *REFERENCE["roles"], *REFERENCE["actions"]]
values = st.one_of(
    junk,
    huge_texts,
    deep_junk,
    st.sampled_from(
        [-1, -0.01, 0, 10**40, 2**31, 2**63, float("nan"), float("inf"), -float("inf"), 1e308, "-5", "1e400"]
    ),
    st.sampled_from(["0s", "-1d", "99999999999999999999d", "36501d", "1 day", "4h ", "٣d", "90"]),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.sampled_from(NAMES),
)
keys = st.one_of(texts, huge_texts, st.sampled_from(["max_amout", "Version", "actors ", "people\u200b"]))


def _parent(document: Any, path: Path_) -> Any:
    """The mapping or list holding `path`'s last part, or None when an earlier edit removed the way there."""
    node = document
    for part in path[:-1]:
        present = (
            part in node
            if isinstance(node, dict)
            else isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if not present:
            return None
        node = node[part]
    return node


@st.composite
def edited(draw: st.DrawFn) -> dict[str, Any]:
    """The reference charter with one to three generated edits: a key dropped, a value of the wrong type (or
    huge, negative, empty, unicode, nested junk), an unknown key, a key renamed, or a name reused elsewhere."""
    document = copy.deepcopy(REFERENCE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        parent, last = _parent(document, path), path[-1]
        if isinstance(parent, dict) and last in parent:
            edit = draw(st.sampled_from(["drop", "replace", "add", "rename", "reuse"]))
            if edit == "drop":
                del parent[last]
            elif edit == "replace":
                parent[last] = draw(values)
            elif edit == "add":
                parent[draw(keys)] = draw(values)
            elif edit == "rename":
                parent[draw(keys)] = parent.pop(last)
            else:  # another section's name under this mapping: a person that is also an actor, ...
                parent[draw(st.sampled_from(NAMES))] = copy.deepcopy(parent[last])
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            edit = draw(st.sampled_from(["drop", "replace", "repeat"]))
            if edit == "drop":
                del parent[last]
            elif edit == "replace":
                parent[last] = draw(values)
            else:
                parent.append(copy.deepcopy(parent[last]))
    return document


def dumped(document: Any) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.dump(document, out)
    return out.getvalue()


@st.composite
def text_edits(draw: st.DrawFn) -> str:
    """The reference charter's text with a line dropped or repeated (a duplicated key), text inserted anywhere,
    a number replaced, or cut short."""
    lines = REFERENCE_TEXT.splitlines(keepends=True)
    edit = draw(st.sampled_from(["drop", "repeat", "insert", "number", "cut"]))
    index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if edit == "drop":
        del lines[index]
    elif edit == "repeat":
        lines.insert(index, lines[index])
    elif edit == "insert":
        line = lines[index]
        at = draw(st.integers(min_value=0, max_value=len(line)))
        lines[index] = (
            line[:at] + draw(st.one_of(texts, st.sampled_from(["&a ", "*a ", "!!int x", "{", "- ", ":"]))) + line[at:]
        )
    elif edit == "number":
        number = draw(st.sampled_from(["-5", "1" + "0" * 5000, "0x" + "f" * 400, ".nan", "-.inf", "9999-99-99"]))
        lines = [line.replace(": 3 ", f": {number} ", 1).replace("300}", f"{number}}}", 1) for line in lines]
    else:
        return REFERENCE_TEXT[: draw(st.integers(min_value=0, max_value=len(REFERENCE_TEXT)))]
    return "".join(lines)


random_documents = st.one_of(
    st.text(max_size=200),
    junk.map(dumped),
    st.lists(
        st.sampled_from(
            ["a:", " b", "- c", "&x", "*x", "[", "]", "{", "}", "? ", "---", "...", "#", "!!map", "\t", "'"]
        ),
        max_size=30,
    ).map(" ".join),
)


def check_loaded_or_refused(text: str, directory: Path) -> Charter | None:
    """Load `text` from a file in `directory` (one file, rewritten by each example): a usable charter, or None after
    checking that the refusal is one clear CharterError naming the file."""
    path = directory / "charter.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        charter = load_charter(path)
    except CharterError as err:
        message = str(err)
        assert_one_clear_line(message)
        assert message.startswith(f"{path}"), message
        assert err.path == str(path)
        if err.key is not None:
            assert f": {err.key}: " in message
        return None
    assert_usable(charter)
    return charter


def assert_usable(charter: Charter) -> None:
    """What a worker does with a charter right after loading it must not fail: dates, JSON, the gap report."""
    now = datetime.now(UTC)
    durations: list[timedelta] = [charter.drills.every, charter.drills.max_age, timedelta(days=charter.retention_days)]
    for action in charter.actions.values():
        if action.approval is not None:
            durations.append(action.approval.step_timeout)
        if action.reversal.window is not None:
            durations.append(action.reversal.window)
        if action.drill_every is not None:
            durations.append(action.drill_every)
    durations += [grant.budget.per for grant in charter.grants if grant.budget is not None]
    for duration in durations:
        assert now - duration < now + duration
    Charter.model_validate_json(charter.model_dump_json())
    charter_gaps(charter, today=now.date())


@PROPERTIES
@given(document=edited())
def test_an_edited_charter_loads_usable_or_is_refused_with_one_charter_error(
    document: dict[str, Any], tmp_path: Path
) -> None:
    check_loaded_or_refused(dumped(document), tmp_path)


@PROPERTIES
@given(text=text_edits())
def test_an_edited_charter_text_loads_usable_or_is_refused_with_one_charter_error(text: str, tmp_path: Path) -> None:
    check_loaded_or_refused(text, tmp_path)


@PROPERTIES
@given(text=random_documents)
def test_any_yaml_document_as_a_charter_is_refused_with_one_charter_error(text: str, tmp_path: Path) -> None:
    assert check_loaded_or_refused(text, tmp_path) is None


@PROPERTIES
@given(document=edited())
def test_a_charter_sent_as_text_is_refused_the_same_way(document: dict[str, Any]) -> None:
    """`charter sign` and shadow mode take the charter as text (the API's body); the same rules, no file."""
    try:
        charter_from_text(dumped(document), shown="the charter sent")
    except CharterError as err:
        assert_one_clear_line(str(err))
        assert str(err).startswith("the charter sent")


def test_the_reference_charter_itself_still_loads(tmp_path: Path) -> None:
    charter = check_loaded_or_refused(REFERENCE_TEXT, tmp_path)
    assert charter is not None and charter.version == 3


def test_duplicated_and_overlong_values_are_named_at_their_line(tmp_path: Path) -> None:
    twice = REFERENCE_TEXT.replace(
        "  dana:  {roles: [legal]}\n", "  dana:  {roles: [legal]}\n  dana:  {roles: [tier1]}\n"
    )
    path = tmp_path / "twice.yaml"
    path.write_text(twice)
    try:
        load_charter(path)
    except CharterError as err:
        assert err.line == 29 and 'duplicate key "dana"' in err.message  # the second dana
    else:
        raise AssertionError("a person written twice loaded")
    for old, new, key, problem in [
        ("every: 30d ", "every: 99999999999999999999d ", "drills.every", "longer than 36500d"),
        ("retention_days: 2555 ", "retention_days: 9999999 ", "retention_days", "less than or equal to 36500"),
        ("version: 3 ", "version: 99999999999 ", "version", "less than or equal to 2147483647"),
    ]:
        path.write_text(REFERENCE_TEXT.replace(old, new))
        try:
            load_charter(path)
        except CharterError as err:
            assert err.key == key and problem in err.message, err.message
            assert err.line is not None
        else:
            raise AssertionError(f"{new} loaded")
