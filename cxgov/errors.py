"""The one domain error tree. Each error knows its message and its CLI exit code."""

from __future__ import annotations


class CxgovError(Exception):
    """Base of every expected cxgov error; the CLI prints its message on one line."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(CxgovError):
    """Input that does not match what the charter or the CLI declares. Nothing was done."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SourceError(BadRequest):
    """A YAML source file (charter or sandbox seed) that cannot be loaded; names file, line and key."""

    def __init__(self, problem: str, *, path: str, line: int | None = None, key: str | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        message = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        super().__init__(message, field=key)
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem


class CharterError(SourceError):
    """The charter file does not load; nothing from it is used."""


class SeedError(SourceError):
    """The sandbox seed file does not load; the sandbox is left as it was."""


class Denied(CxgovError):
    """The request was denied or an attempt was refused (exit 3)."""

    exit_code = 3

    def __init__(self, message: str, *, rule: str | None = None, action: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.action = action


class NotFound(CxgovError):
    """An action id, order, or other named thing that does not exist."""

    exit_code = 2


class SystemsError(SourceError):
    """The systems file (CXGOV_SYSTEMS) does not load; nothing from it is used."""


class BindingError(CxgovError):
    """The charter's actions and the configured systems of record do not fit together: no ship.

    The message has one line per problem, each naming the action.
    """

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Unavailable(CxgovError):
    """The Temporal server (or another service) cannot be reached."""

    exit_code = 1


class ConnectorRefused(Denied):
    """The system of record refused a step for a business reason; the step had no effect."""


class SystemUnavailable(Unavailable):
    """The system of record cannot answer now (down, 5xx, timeout): the step is retried, never guessed."""
