"""Signing in and out of the console, and who is asking on every request.

People sign in with an API key of their own (`cxgov keys issue --person NAME`), a pasted OIDC token when
CXGOV_OIDC_ISSUER is set, or "Sign in with SSO" when the console is also an OIDC client (`cxgov.console.sso`).
An actor's key is refused: the console is for people. On every request the session's credential is checked
again through the API's own Gate (the same key store and its one-second cache, the same OIDC verifier), and the
person must still be a person of the active charter; otherwise the session ends and the browser is sent to
sign in. Every form carries a CSRF token (the session's, or for the sign-in form a double-submit cookie).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from cxgov.api.app import Gate
from cxgov.console.render import ConsoleRoute, FormRefused, LoginRequired, page
from cxgov.console.sessions import (
    COOKIE,
    LOGIN_COOKIE,
    Session,
    SessionStore,
    clear_cookie,
    is_https,
    new_token,
    safe_next,
    same_value,
    set_cookie,
)
from cxgov.console.sso import BINDING_COOKIE, SingleSignOn
from cxgov.errors import CxgovError
from cxgov.identity import Principal

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MAX_CREDENTIAL = 8192
WHY = {
    "ended": "Your session ended: its key was revoked or expired, or it timed out. Sign in again.",
    "out": "You are signed out.",
}
"""The only messages a sign-in link can ask for (nothing in a link is shown as it was written)."""


@dataclass
class Console:
    """What the console needs: the API's Gate, the sessions, and single sign-on when configured."""

    gate: Gate
    sessions: SessionStore
    sso: SingleSignOn | None = None

    def people(self) -> set[str]:
        return set(self.gate.charters.get().people)

    async def recheck(self, session: Session) -> Principal | None:
        """The person a session's credential still proves, or None (revoked, expired, no longer in the charter)."""
        if session.via == "sso":
            found = await self.sso.principal(session.credential, people=self.people()) if self.sso else None
        else:
            found = await self.gate.authenticate(session.credential)
        if found is None or found.kind != "person" or found.name != session.person:
            return None
        return found if found.name in self.people() else None

    def secure(self, request: Request) -> bool:
        return is_https(request, public_url=self.gate.settings.public_url)


@dataclass(frozen=True)
class Visitor:
    """The signed-in person of a request, proven by their session's credential."""

    principal: Principal
    session: Session

    @property
    def name(self) -> str:
        return self.principal.name


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]


async def visitor(request: Request, console: ConsoleDep) -> Visitor:
    """The signed-in person; anyone else is sent to sign in (and back here afterwards, for a page)."""
    sid = request.cookies.get(COOKIE)
    session = console.sessions.get(sid, now=datetime.now(UTC))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/"
    if session is None:
        raise LoginRequired(target, why="ended" if sid else None, clear=bool(sid))
    principal = await console.recheck(session)
    if principal is None:
        console.sessions.close(sid)
        raise LoginRequired(target, why="ended", clear=True)
    found = Visitor(principal=principal, session=session)
    request.state.visitor = found
    return found


VisitorDep = Annotated[Visitor, Depends(visitor)]


async def checked_form(request: Request, person: VisitorDep) -> FormData:
    """The posted form, once its CSRF token is this session's.

    Raises:
        FormRefused: No token, or another one: nothing is done.
    """
    form = await request.form()
    sent = form.get("csrf")
    if not person.session.csrf_ok(sent if isinstance(sent, str) else None):
        raise FormRefused(
            "this form did not come from your console session (its CSRF token is missing or wrong), so nothing "
            "was done; reload the page and try again"
        )
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str, *, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.get("/login")
async def login_form(request: Request, console: ConsoleDep, next: str = "/", why: str = "") -> Response:
    """The sign-in page (a person already signed in goes straight on)."""
    session = console.sessions.get(request.cookies.get(COOKIE), now=datetime.now(UTC))
    if session is not None and await console.recheck(session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, console, next=safe_next(next), notice=WHY.get(why))


@router.post("/login")
async def login(request: Request, console: ConsoleDep) -> Response:
    """Sign in with a person's key (or a pasted OIDC token); the session starts fresh."""
    form = await request.form()
    target = safe_next(field(form, "next"))
    sent = form.get("csrf")
    if not same_value(sent if isinstance(sent, str) else None, request.cookies.get(LOGIN_COOKIE)):
        raise FormRefused(
            "this sign-in form did not come from this console (its CSRF token is missing or wrong); "
            "reload the sign-in page and try again"
        )
    credential = field(form, "token", limit=MAX_CREDENTIAL + 1)
    if not credential or len(credential) > MAX_CREDENTIAL:
        return _login_page(request, console, next=target, problem="Paste your key.", status_code=422)
    principal = await console.gate.authenticate(credential)
    if principal is None:
        problem = "That key is not valid: it is unknown, expired or revoked."
        return _login_page(request, console, next=target, problem=problem, status_code=401)
    if principal.kind != "person":
        problem = (
            f"That is the key of the actor {principal.name}. The console is for people: sign in with your own "
            "key (cxgov keys issue --person NAME)."
        )
        return _login_page(request, console, next=target, problem=problem, status_code=403)
    if principal.name not in console.people():
        problem = f"{principal.name} is not a person of the active charter."
        return _login_page(request, console, next=target, problem=problem, status_code=403)
    return _signed_in(request, console, principal=principal, credential=credential, target=target)


@router.post("/logout")
async def logout(request: Request, console: ConsoleDep, person: VisitorDep, form: FormDep) -> Response:
    """End the session here and in the browser."""
    console.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/login?why=out", status_code=303)
    clear_cookie(response, COOKIE, secure=console.secure(request))
    return response


@router.get("/login/sso")
async def sso_begin(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    """Start a single sign-on at the configured OIDC issuer."""
    if console.sso is None:
        return _login_page(request, console, next=safe_next(next), problem="Single sign-on is not configured.")
    started = await console.sso.begin(
        next=safe_next(next), redirect_uri=_callback_url(request, console), now=datetime.now(UTC)
    )
    response = RedirectResponse(started.location, status_code=303)
    set_cookie(response, BINDING_COOKIE, started.binding, secure=console.secure(request), path="/login")
    return response


@router.get("/login/sso/callback")
async def sso_callback(
    request: Request,
    console: ConsoleDep,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    """Where the issuer sends the browser back: exchange the code, check the ID token, start the session."""
    if console.sso is None:
        return _login_page(request, console, next="/", problem="Single sign-on is not configured.")
    if error or not code or not state:
        shown = error[:60] if error else "no code"
        return _login_page(request, console, next="/", problem=f"The identity provider did not sign you in ({shown}).")
    try:
        signed, target = await console.sso.finish(
            code=code[:2000],
            state=state,
            binding=request.cookies.get(BINDING_COOKIE),
            people=console.people(),
            now=datetime.now(UTC),
        )
    except CxgovError as err:
        return _login_page(
            request, console, next="/", problem=f"Single sign-on failed: {err.message}.", status_code=403
        )
    response = _signed_in(
        request,
        console,
        principal=signed.principal,
        credential=signed.id_token,
        target=target,
        via="sso",
        ends=signed.expires,
    )
    clear_cookie(response, BINDING_COOKIE, secure=console.secure(request), path="/login")
    return response


def _signed_in(
    request: Request,
    console: Console,
    *,
    principal: Principal,
    credential: str,
    target: str,
    via: str = "key",
    ends: datetime | None = None,
) -> Response:
    console.sessions.close(request.cookies.get(COOKIE))  # never carry an old session over a sign-in
    sid = console.sessions.open(
        person=principal.name,
        credential=credential,
        via="sso" if via == "sso" else "key",
        now=datetime.now(UTC),
        ends=ends,
    )
    response = RedirectResponse(target, status_code=303)
    secure = console.secure(request)
    set_cookie(response, COOKIE, sid, secure=secure)
    clear_cookie(response, LOGIN_COOKIE, secure=secure, path="/login")
    return response


def _login_page(
    request: Request,
    console: Console,
    *,
    next: str,
    problem: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    token = new_token()
    response = page(
        request,
        "login.html",
        visitor=None,
        title="Sign in",
        status_code=status_code,
        login_csrf=token,
        next=next,
        problem=problem,
        notice=notice,
        sso=console.sso is not None,
        oidc=console.gate.oidc is not None,
    )
    set_cookie(response, LOGIN_COOKIE, token, secure=console.secure(request), path="/login")
    return response


def _callback_url(request: Request, console: Console) -> str:
    """The redirect URI the issuer knows: under CXGOV_PUBLIC_URL when set, else as this request reached us."""
    base = console.gate.settings.public_url_setting or str(request.base_url)
    return base.rstrip("/") + "/login/sso/callback"
