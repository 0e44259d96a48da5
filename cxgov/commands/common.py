"""What every cxgov command shares: one-line errors with the right exit code, JSON or text output."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from cxgov.charter import parse_duration
from cxgov.errors import BadRequest, CxgovError, Unavailable
from cxgov.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DENIED_EXIT = 3


class Output:
    """Whether the running command prints JSON (set from its --json flag)."""

    json = False


def emit(payload: dict[str, Any], text: str | None = None) -> None:
    """Print `payload` as one JSON object (with --json, or when there is no text form), else `text`."""
    if Output.json or text is None:
        typer.echo(json.dumps(payload, default=str))
    else:
        typer.echo(text)


def command(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn expected errors into one line (or one JSON object) and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        Output.json = bool(kwargs.get("as_json", False))
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as err:
            cause = getattr(err, "orig", None) or err
            failure = Unavailable(f"the database cannot be used: {first_line(str(cause))} (check CXGOV_DATABASE_URL)")
            _report(failure)
            raise typer.Exit(failure.exit_code) from None
        except CxgovError as err:
            _report(err)
            raise typer.Exit(err.exit_code) from None

    return wrapper


def _report(err: CxgovError) -> None:
    if Output.json:
        typer.echo(json.dumps({"error": err.message, "exit_code": err.exit_code}))
    else:
        for line in err.message.splitlines() or [""]:  # a BindingError has one line per problem
            typer.echo(f"cxgov: {line}", err=True)


def first_line(text: str) -> str:
    """The first non-empty line of an error text (drivers add hints and links on later lines)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


class _Host:
    """The event loop of a process that embeds the CLI and lends it one (see `lend_loop`)."""

    loop: asyncio.AbstractEventLoop | None = None


def lend_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Run every later command's coroutine on `loop` (running on another thread) instead of a fresh loop.

    For processes that call `cli.run` many times (the test suite): each `asyncio.run` creates and closes an
    event loop with a native Temporal client bound to it. A test run doing that for every command, while a
    worker used Temporal from another loop, once died of a segmentation fault.
    """
    _Host.loop = loop


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine to completion: on a fresh event loop, or on the one a host lent."""
    if _Host.loop is None:
        return asyncio.run(coro)
    return asyncio.run_coroutine_threadsafe(coro, _Host.loop).result()


def settings() -> Settings:
    return Settings()


def filter_text(value: str | None, *, option: str) -> str | None:
    """`cxgov.audit.database.filter_text`, imported when used: commands start without the database layer."""
    from cxgov.audit.database import filter_text as checked

    return checked(value, option=option)


def moment(value: str | None, *, option: str, now: datetime | None = None) -> datetime | None:
    """`180d` (that long ago), or an ISO date/time (UTC when no zone): the start or end of a time range."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    shown = value if len(value) <= 40 else f"{value[:40]}..."
    try:
        return now - parse_duration(value)
    except ValueError as err:
        if value.strip()[:1].isdigit() and value.strip()[-1:] in ("s", "m", "h", "d"):
            raise BadRequest(f"{option} {shown!r}: {err}") from None
    except OverflowError:
        raise BadRequest(f"{option} {shown!r} reaches back before the year 1") from None
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise BadRequest(f"{option} {shown!r}: write a duration like 180d or 12h, or a date like 2026-06-01") from None
    except OverflowError:
        raise BadRequest(f"{option} {shown!r} is outside the years 1 to 9999 once in UTC") from None
