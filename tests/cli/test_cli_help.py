"""Every command's `--help` exits 0 and says what the command does, in words a CX leader can read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from clikit import child_env, run_subprocess
from typer.testing import CliRunner

from cxgov.cli import app


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(typer.main.get_command(app)))


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9_'-]+", text)


def first_sentence(help_text: str) -> str:
    return re.split(r"(?<=[.:])\s", " ".join(help_text.split()), maxsplit=1)[0]


def test_every_reference_command_is_there() -> None:
    expected = {
        ("act",),
        ("status",),
        ("approvals",),
        ("approve",),
        ("deny",),
        ("up",),
        ("worker",),
        ("charter", "check"),
        ("sandbox", "dispatch"),
        ("sandbox", "payout"),
        ("sandbox", "fault"),
    }
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "cxgov")
def test_help_exits_0_and_says_what_the_command_does(path: tuple[str, ...], cli_env: None) -> None:
    command = COMMANDS[path]
    assert command.help, f"`cxgov {' '.join(path)}` has no help text"

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    assert "Usage: cxgov" in result.output
    shown = " ".join(words(result.output))
    # The first sentence of the help text may be wrapped across lines and panel borders; compare words.
    assert " ".join(words(first_sentence(command.help))) in shown, result.output


def test_top_level_help_lists_the_commands(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0
    for name in ("act", "status", "approvals", "approve", "deny", "charter", "sandbox", "up", "worker"):
        assert re.search(rf"\b{name}\b", result.output), name


def test_help_as_a_real_process_exits_0() -> None:
    outcome = run_subprocess("act", "--help", env=child_env({}))

    assert outcome.code == 0, outcome
    assert "Take a governed action on behalf of a customer." in outcome.out
    assert outcome.err == ""
