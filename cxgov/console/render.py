"""How console pages are drawn and guarded: Jinja2 templates, display filters, and one route class.

Every console route uses `ConsoleRoute`: a person without a live session is sent (303) to the sign-in page,
an expected error becomes an HTML page with its reason (never a traceback, never the API's JSON), and every
answer carries headers that keep it out of frames, caches and other sites' scripts. Nothing is fetched from
elsewhere at run time: the stylesheet is served from this package, and the pages need no JavaScript.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from temporalio.service import RPCError

from cxgov.api.app import status_of
from cxgov.console.sessions import COOKIE
from cxgov.errors import CxgovError, Denied
from cxgov.wire import Status

if TYPE_CHECKING:
    from cxgov.console.door import Visitor

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Console pages load only this site's stylesheet, post forms only here, and are never framed."""

GOOD = frozenset({Status.COMPLETED, Status.REVERSED, "passed", "allow", "active"})
WAITING = frozenset({Status.AWAITING_APPROVAL, Status.AUTHORIZING, Status.EXECUTING, "escalate", "running"})
BAD = frozenset(
    {
        Status.DENIED,
        Status.FAILED,
        Status.COMPENSATION_FAILED,
        Status.REVERSAL_FAILED,
        Status.EXPIRED,
        Status.COMPENSATED,
        "terminated",
        "timed_out",
        "canceled",
        "deny",
        "failed",
        "refused",
        "overdue",
        "gap",
    }
)
MARKS = {"good": "✓", "waiting": "◷", "bad": "✕", "neutral": "•"}


class LoginRequired(Exception):
    """No live session (or its credential stopped counting): go and sign in, then come back to `target`."""

    def __init__(self, target: str = "/", *, why: str | None = None, clear: bool = False) -> None:
        super().__init__(target)
        self.target = target
        self.why = why
        self.clear = clear

    @property
    def location(self) -> str:
        query = {"next": self.target} if self.target != "/" else {}
        if self.why:
            query["why"] = self.why
        return "/login" + (f"?{urlencode(query)}" if query else "")


class FormRefused(Denied):
    """A form without this session's CSRF token (or the sign-in form's): nothing is done."""


def tone(value: object) -> str:
    """good, waiting, bad or neutral: the colour of a status badge (its text says the same)."""
    text = str(value.value if isinstance(value, Status) else value)
    if text in GOOD:
        return "good"
    if text in WAITING:
        return "waiting"
    if text in BAD or text.startswith("failed"):
        return "bad"
    return "neutral"


def label(value: object) -> str:
    """A status as people read it: `awaiting_approval` -> `awaiting approval`."""
    text = str(value.value if isinstance(value, Status) else value)
    return text.replace("_", " ")


def moment_of(value: datetime | str | None) -> datetime | None:
    """A time from a model (datetime) or from the API's JSON answers (ISO text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def money(amount: Decimal | float | str | None, currency: str = "") -> str:
    if amount is None or amount == "":
        return "—"
    value = Decimal(str(amount))
    return f"{value:,} {currency}".strip()


def when(value: datetime | str | None) -> str:
    """An absolute time in UTC, to the minute."""
    moment = moment_of(value)
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative(value: datetime | str | None, now: datetime | None = None) -> str:
    """`in 3 h 59 min` or `12 min ago`, as of now."""
    moment = moment_of(value)
    if moment is None:
        return ""
    delta = moment - (now or datetime.now(UTC))
    future = delta >= timedelta(0)
    text = span(abs(delta))
    return f"in {text}" if future else f"{text} ago"


def span(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return "less than a minute"


def seconds(value: float | int | str) -> str:
    """A number of seconds as people read a duration."""
    return span(timedelta(seconds=float(value)))


def iso(value: datetime | str | None) -> str:
    moment = moment_of(value)
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else ""


def from_json(text: str | None) -> Any:
    """A JSON-text field of an audit record (params, reasons, approvals), or the text itself."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters.update(
    tone=tone,
    label=label,
    money=money,
    when=when,
    relative=relative,
    iso=iso,
    span=span,
    fromjson=from_json,
    seconds=seconds,
)
templates.env.globals["marks"] = MARKS
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


@dataclass(frozen=True)
class Nav:
    path: str
    text: str


NAV = (
    Nav("/", "My approvals"),
    Nav("/actions", "Actions"),
    Nav("/drills", "Drills"),
    Nav("/gaps", "Gaps"),
    Nav("/questions", "Questions"),
    Nav("/audit", "Audit"),
    Nav("/charter", "Charter"),
)


def page(
    request: Request,
    template: str,
    *,
    visitor: Visitor | None,
    title: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A console page: the template with the signed-in person, their CSRF token and pending messages."""
    current = request.url.path
    active = next((nav.path for nav in NAV if nav.path != "/" and current.startswith(nav.path)), "/")
    return templates.TemplateResponse(
        request,
        template,
        {
            "visitor": visitor,
            "csrf": visitor.session.csrf if visitor is not None else None,
            "flashes": visitor.session.pop_flashes() if visitor is not None else [],
            "nav": NAV,
            "active": active,
            "title": title,
            "now": datetime.now(UTC),
            "charter_label": _charter_label(request) if visitor is not None else "",
            **context,
        },
        status_code=status_code,
    )


def _charter_label(request: Request) -> str:
    try:
        charter = request.app.state.console.gate.charters.get()
    except CxgovError:
        return "charter not loaded"
    return f"{charter.charter} v{charter.version}"


def error_page(request: Request, code: int, message: str) -> Response:
    visitor = getattr(request.state, "visitor", None)
    titles = {401: "Not signed in", 403: "Refused", 404: "Not found", 422: "Bad input", 503: "Unavailable"}
    return page(
        request,
        "error.html",
        visitor=visitor,
        title=titles.get(code, "Something went wrong"),
        status_code=code,
        code=code,
        message=message,
    )


def protect(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class ConsoleRoute(APIRoute):
    """Console routes: sign-in redirects, HTML errors, security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handle(request)
            except LoginRequired as err:
                response = RedirectResponse(err.location, status_code=303)
                if err.clear:
                    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
            except RequestValidationError as err:
                first = err.errors()[0] if err.errors() else {"loc": (), "msg": "malformed request"}
                where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body"))
                response = error_page(request, 422, f"{where}: {first.get('msg')}" if where else str(first["msg"]))
            except CxgovError as err:
                response = error_page(request, status_of(err), err.message)
            except RPCError as err:  # Temporal went away mid-page: say so, never a traceback
                response = error_page(request, 503, f"Temporal cannot be reached now ({err.message}); try again soon")
            return protect(response)

        return guarded
