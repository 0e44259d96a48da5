"""Console sessions: a random id in an HttpOnly cookie, everything else on the server.

A session holds the person, the credential they signed in with (an API key, a pasted OIDC token, or the ID
token of an SSO sign-in), the CSRF token every form of that session carries, and messages for the next page.
The credential is checked again on every request (`cxgov.console.door`), so revoking a key or the token's
expiry ends the session within a second. Sessions live in this server process: a restart signs everyone out,
which costs a sign-in and loses nothing.

The cookie is HttpOnly, SameSite=Lax (a link from an email or Slack still opens the page signed in; a form
posted from another site carries no cookie), and Secure when the request came over https: as uvicorn sees it,
which honours `X-Forwarded-Proto` only from the proxies it trusts (`--forwarded-allow-ips`, default loopback),
or when CXGOV_PUBLIC_URL is https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "cxgov_session"
LOGIN_COOKIE = "cxgov_login"
"""The sign-in form's own CSRF value (double submit): set with the form, compared with the posted field."""
LIFETIME = timedelta(hours=12)
"""A session ends after a shift, whatever happens; sooner when its credential is revoked or expires."""
MAX_SESSIONS = 10_000
MAX_NEXT = 2000

Via = Literal["key", "sso"]
Tone = Literal["ok", "error", "info"]


@dataclass(frozen=True)
class Flash:
    """A message for the next page a person sees (what their last form did)."""

    tone: Tone
    text: str


@dataclass
class Session:
    """One signed-in person in one browser."""

    person: str
    credential: str = field(repr=False)
    """What they signed in with, checked again on every request: never sent back to the browser."""
    via: Via
    csrf: str = field(repr=False)
    expires: datetime
    flashes: list[Flash] = field(default_factory=list)

    def flash(self, tone: Tone, text: str) -> None:
        self.flashes.append(Flash(tone=tone, text=text))
        del self.flashes[:-5]

    def pop_flashes(self) -> list[Flash]:
        found, self.flashes = self.flashes, []
        return found

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether a posted form carries this session's CSRF token (compared in constant time)."""
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class SessionStore:
    """Sessions by the hash of their cookie value (the raw id exists only in the browser's cookie)."""

    def __init__(self, *, lifetime: timedelta = LIFETIME, limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, *, person: str, credential: str, via: Via, now: datetime, ends: datetime | None = None) -> str:
        """A new session (never a reused id: sign-in always starts a fresh one); the cookie value."""
        sid = secrets.token_urlsafe(32)
        expires = now + self.lifetime if ends is None else min(ends, now + self.lifetime)
        session = Session(
            person=person, credential=credential, via=via, csrf=secrets.token_urlsafe(32), expires=expires
        )
        with self._lock:
            if len(self._sessions) >= self.limit:
                self._evict(now)
            self._sessions[_key(sid)] = session
        return sid

    def get(self, sid: str | None, *, now: datetime) -> Session | None:
        """The live session of a cookie value, or None (unknown, malformed or expired)."""
        if not sid or len(sid) > 100:
            return None
        with self._lock:
            session = self._sessions.get(_key(sid))
            if session is not None and session.expires <= now:
                del self._sessions[_key(sid)]
                return None
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(_key(sid), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _evict(self, now: datetime) -> None:
        for key in [key for key, session in self._sessions.items() if session.expires <= now]:
            del self._sessions[key]
        while len(self._sessions) >= self.limit:
            oldest = min(self._sessions, key=lambda key: self._sessions[key].expires)
            del self._sessions[oldest]


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def is_https(request: Request, *, public_url: str) -> bool:
    """Whether cookies must be Secure: the request came over https (per uvicorn's trusted proxy headers), or the
    console's public address is https."""
    return request.url.scheme == "https" or public_url.startswith("https://")


def set_cookie(response: Response, name: str, value: str, *, secure: bool, path: str = "/") -> None:
    """An HttpOnly, SameSite=Lax cookie for the browser session (no Max-Age: it ends with the browser)."""
    response.set_cookie(name, value, path=path, httponly=True, samesite="lax", secure=secure)


def clear_cookie(response: Response, name: str, *, secure: bool, path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=secure)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_value(sent: str | None, expected: str | None) -> bool:
    """Constant-time equality of two optional tokens; two missing ones are not equal."""
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent).encode(), str(expected).encode())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a relative path on this site, or `/`.

    Anything that could leave the site (`https://...`, `//host`, `/\\host`, a scheme, control characters) is
    replaced by `/`, so a crafted sign-in link cannot send a person elsewhere.
    """
    if not target or len(target) > MAX_NEXT or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 or char == "\\" for char in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
