"""YAML alias expansion and nesting are bounded in every source file cxgov reads (charter, sandbox seed, systems
file, notification file): a "billion laughs" file, an alias inside its own anchor, or a file nested a hundred
thousand deep is refused at once with one clear error, instead of eating the machine or crashing the process."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from propkit import PROPERTIES, assert_one_clear_line, deep_text

from cxgov.charter import load_charter
from cxgov.connectors.config import load_systems
from cxgov.errors import CharterError, SeedError, SourceError, SystemsError
from cxgov.notify.routes import NotifyError, load_routes
from cxgov.sandbox.seed import load_seed
from cxgov.yamlsource import MAX_ALIAS_NODES, MAX_DEPTH

CXGOV = Path(sys.executable).parent / "cxgov"
GUARD_SECONDS = 20
"""Only a guard against a hang (the refusal itself takes milliseconds); pytest-timeout is not installed."""


def billion_laughs(levels: int = 9, top: str = "lol9") -> str:
    """The classic: nine anchors of nine aliases each, 9**9 (387 million) strings once expanded, under 1 KB."""
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]")
    lines.append(f"{top}_again: *{top}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def guarded(seconds: int = GUARD_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block runs longer than `seconds`."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"still expanding after {seconds} s: the file was not refused")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


Loader = Callable[[Path], Any]
LOADERS: list[tuple[str, type[SourceError], Loader]] = [
    ("charter", CharterError, load_charter),
    ("sandbox seed", SeedError, lambda path: load_seed(path, now=datetime.now(UTC))),
    ("systems file", SystemsError, lambda path: load_systems(path, home=path.parent)),
    ("notification file", NotifyError, lambda path: load_routes(path, env={})),
]


def refused(loader: Loader, error_type: type[SourceError], path: Path) -> SourceError:
    with guarded(), pytest.raises(error_type) as caught:
        loader(path)
    assert_one_clear_line(str(caught.value))
    assert str(caught.value).startswith(str(path))
    return caught.value


@pytest.mark.parametrize(("what", "error_type", "loader"), LOADERS, ids=[name for name, _, _ in LOADERS])
def test_a_billion_laughs_file_is_refused_with_one_clear_error(
    what: str, error_type: type[SourceError], loader: Loader, tmp_path: Path
) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs())
    error = refused(loader, error_type, path)
    assert f"expand to more than {MAX_ALIAS_NODES} values" in error.message
    assert error.line is not None


@pytest.mark.parametrize(("what", "error_type", "loader"), LOADERS, ids=[name for name, _, _ in LOADERS])
def test_an_alias_inside_its_own_anchor_is_refused(
    what: str, error_type: type[SourceError], loader: Loader, tmp_path: Path
) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("people: &me\n  ana: {roles: [*me]}\n")
    error = refused(loader, error_type, path)
    assert "the alias *me is inside its own anchor &me" in error.message and error.line == 2


@pytest.mark.parametrize(("what", "error_type", "loader"), LOADERS, ids=[name for name, _, _ in LOADERS])
def test_nesting_deeper_than_the_limit_is_refused(
    what: str, error_type: type[SourceError], loader: Loader, tmp_path: Path
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("key: " + deep_text(5_000) + "\n")
    error = refused(loader, error_type, path)
    assert f"deeper than {MAX_DEPTH} levels" in error.message


def test_a_charter_nested_a_hundred_thousand_deep_is_refused_by_the_real_command(tmp_path: Path) -> None:
    """Before the bound, this file crashed the process with a segmentation fault inside the YAML parser: run the
    real `cxgov charter check` so that a crash fails this test instead of the test run."""
    path = tmp_path / "deep.yaml"
    path.write_text("charter: " + deep_text(100_000) + "\n")
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(billion_laughs())
    for file, problem in ((path, f":1: nests mappings and lists deeper than {MAX_DEPTH}"), (laughs, ":7: its aliases")):
        done = subprocess.run(
            [str(CXGOV), "charter", "check", str(file)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2, (done.returncode, done.stderr[-500:])
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"cxgov: {file}:") and problem in line


def test_anchors_and_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    """Aliases are YAML, and a charter may use them (a shared ladder): only expansion beyond the bound is refused."""
    from harness import CHARTER

    text = CHARTER.read_text()
    text = text.replace(
        "approval: {ladder: [support-lead], step_timeout: 1h, on_timeout: deny}\n  cancel_order:",
        "approval: &quick {ladder: [support-lead], step_timeout: 1h, on_timeout: deny}\n  cancel_order:",
    ).replace(
        "reversal: {kind: window, window: 24h, procedure: Reinstate the order, owner: support-lead}\n"
        "    approval: {ladder: [support-lead], step_timeout: 1h, on_timeout: deny}",
        "reversal: {kind: window, window: 24h, procedure: Reinstate the order, owner: support-lead}\n"
        "    approval: *quick",
    )
    assert text.count("*quick") == 1
    path = tmp_path / "charter.yaml"
    path.write_text(text)
    charter = load_charter(path)
    assert charter.actions["cancel_order"].approval == charter.actions["change_address"].approval


@PROPERTIES
@given(levels=st.integers(min_value=1, max_value=12), width=st.integers(min_value=1, max_value=12))
def test_nested_aliases_load_exactly_when_their_expansion_fits_the_bound(
    levels: int, width: int, tmp_path: Path
) -> None:
    """`levels` anchors of `width` aliases each: loaded (as data) when the expansion fits, refused otherwise."""
    lines = ["a0: &a0 x"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    path = tmp_path / "seed.yaml"
    path.write_text("\n".join(lines) + "\n")
    size, expanded = 1, 0  # an anchor's values (a list counts as one, and so does each value in it)
    for _ in range(levels):
        expanded += width * size  # what this level's aliases stand for
        size = 1 + width * size
    with guarded():
        try:
            load_seed(path, now=datetime.now(UTC))
        except SeedError as err:
            assert_one_clear_line(err.message)
            fits = expanded <= MAX_ALIAS_NODES
            assert ("expand to more than" in err.message) == (not fits), (expanded, err.message)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 2026-02-30\n", "a value cannot be read: day is out of range for month"),
        ("a: 9999-99-99\n", "a value cannot be read: month must be in 1..12"),
        ("a: !!timestamp 2026-01-01T25:00:00\n", "a value cannot be read: hour must be in 0..23"),
        ("a: !!bool maybe\n", "a value cannot be read: 'maybe' is not a value of its type"),
        ("a: !!int x\n", "a value cannot be read: invalid literal for int()"),
        ("a: 1" + "0" * 5000 + "\n", "a value cannot be read: a number has more than 4300 digits"),
        ("a: 0x" + "f" * 400 + "\n", "a: the number is too large (over 77 digits)"),
        ("? [0x" + "f" * 4000 + "]\n: 1\n", "a key is a number of over 77 digits"),
        ('1: a\n"1": b\n', "1: this key is written twice"),
    ],
    ids=["no-such-day", "no-such-month", "no-such-hour", "bool", "int", "huge", "hex", "huge-key", "key-twice"],
)
def test_values_yaml_cannot_build_are_one_located_error(text: str, problem: str, tmp_path: Path) -> None:
    """The safe loader lets Python's own errors out of dates, numbers and booleans it builds: each was a
    ValueError or KeyError escaping the loader (a traceback in `cxgov charter check`, a 500 in the API)."""
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    error = refused(lambda p: load_seed(p, now=datetime.now(UTC)), SeedError, path)
    assert problem in error.message, error.message
