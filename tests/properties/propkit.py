"""What the property tests share: one reproducible hypothesis profile, generated junk, and the shape every
refusal of bad input must have (one clear line, the project's error type, the right exit code)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cxgov-hypothesis")
"""Hypothesis keeps caches (constants, unicode tables) even without an example database: outside the repository."""

PROPERTIES = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run and in CI
    database=None,  # nothing written into the repository (.hypothesis/)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""The settings of every property here: modest, reproducible, fast (the whole directory runs in well under a minute)."""

MAX_MESSAGE = 600
"""A clear error is one line a person reads: quoting a megabyte of the input back is not that."""

TRICKY_TEXT = [
    "",
    " ",
    "\t",
    "\x00",
    "\r\n",
    "'",
    '"',
    "\\",
    "`",
    "%",
    "_",
    "' OR 1=1 --",
    '" OR ""="',
    '=HYPERLINK("http://x","y")',
    "+1-555",
    "-0",
    "@SUM(A1)",
    "NaN",
    "Infinity",
    "1e400",
    "\u202e",
    "\u2028",
    "\ufeff",
    "🙂",
    "ß",
    "İ",
    "null",
    "true",
    "{}",
    "[]",
    "*",
    "&a",
    "!!python/object:os.system",
    "${HOME}",
    "../../etc/passwd",
]
"""Text that has broken parsers, queries and spreadsheets before."""

texts = st.one_of(st.sampled_from(TRICKY_TEXT), st.text(max_size=40))
huge_texts = st.sampled_from([101, 2_001, 70_000]).map(lambda n: "x" * n)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**63, -(2**63), 10**100, -(10**100)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value: nulls, booleans, numbers, text, and lists and objects of them."""


def nested(depth: int) -> Any:
    """A list nested `depth` deep (deeper than any real file or body; deeper still is sent as text, see
    `deep_text`)."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


deep_junk = st.sampled_from([70, 300]).map(nested)


def deep_text(depth: int) -> str:
    """`[[[...]]]` nested `depth` deep, as text: a hundred thousand levels crashed the YAML parser outright."""
    return "[" * depth + "]" * depth


def json_bytes(value: Any) -> bytes:
    """`value` as JSON text, NaN and Infinity included (Python's json reads them, so a client may send them)."""
    return json.dumps(value, allow_nan=True).encode()


def is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def assert_one_clear_line(message: str) -> None:
    """An error message a person can read: one non-empty line, not an echo of a huge input, no traceback."""
    assert message.strip(), "an empty error message"
    assert "\n" not in message, f"more than one line: {message[:200]!r}"
    assert len(message) <= MAX_MESSAGE, f"a {len(message)}-character message: {message[:200]!r}..."
    assert "Traceback" not in message
