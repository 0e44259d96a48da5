"""Single sign-on for the console: the OIDC authorization-code flow, with PKCE, state and nonce.

With CXGOV_OIDC_ISSUER, CXGOV_OIDC_CLIENT_ID and CXGOV_OIDC_CLIENT_SECRET set, "Sign in with SSO" sends the
browser to the issuer's authorization endpoint (from its discovery document). The issuer sends it back to
`/login/sso/callback` with a code; the server exchanges it at the token endpoint (client_secret_basic, with the
PKCE verifier) for an ID token, which counts when it verifies against the issuer's keys (`OidcVerifier`: the
signature, `iss`, `aud` = the client id, `exp`), carries the nonce this sign-in sent, and its claim
(CXGOV_OIDC_CLAIM) names a person of the charter. The `state` is single-use, expires after ten minutes, and is
bound to the browser that started the sign-in (a cookie holding a random value whose hash the state stores), so
nobody can complete a sign-in in someone else's browser.

The ID token is kept in the server-side session and verified again on every request: the session ends when
it expires.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from cxgov.errors import Denied, Unavailable
from cxgov.identity import Principal
from cxgov.identity.oidc import OidcSettings, OidcVerifier

BINDING_COOKIE = "cxgov_sso"
PENDING_TTL = timedelta(minutes=10)
MAX_PENDING = 10_000
DISCOVERY_TTL = 300.0


@dataclass(frozen=True)
class _Pending:
    binding: str
    """sha256 of the browser's binding cookie."""
    nonce: str
    verifier: str
    next: str
    redirect_uri: str
    expires: datetime


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    id_token: str
    expires: datetime


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the binding cookie to set on it."""

    location: str
    binding: str


class SingleSignOn:
    """The authorization-code flow against one OIDC issuer, for one client.

    Args:
        issuer: CXGOV_OIDC_ISSUER.
        client_id: CXGOV_OIDC_CLIENT_ID (the audience of the ID tokens it gets).
        client_secret: CXGOV_OIDC_CLIENT_SECRET.
        claim: The claim naming the person (CXGOV_OIDC_CLAIM).
    """

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, claim: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.verifier = OidcVerifier(OidcSettings(issuer=issuer, audience=client_id, claim=claim))
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None

    async def begin(self, *, next: str, redirect_uri: str, now: datetime) -> Started:
        """The issuer's authorization URL for a new sign-in (state, nonce and PKCE challenge fresh each time).

        Raises:
            Unavailable: The issuer's discovery document cannot be read.
        """
        endpoints = await self._endpoints()
        state, nonce, verifier, binding = (secrets.token_urlsafe(32) for _ in range(4))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        with self._lock:
            self._forget_expired(now)
            if len(self._pending) >= MAX_PENDING:
                raise Unavailable("too many sign-ins under way; try again in a few minutes")
            self._pending[state] = _Pending(
                binding=_sha(binding),
                nonce=nonce,
                verifier=verifier,
                next=next,
                redirect_uri=redirect_uri,
                expires=now + PENDING_TTL,
            )
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return Started(location=f"{endpoints['authorization_endpoint']}?{urlencode(query)}", binding=binding)

    async def finish(
        self, *, code: str, state: str, binding: str | None, people: set[str], now: datetime
    ) -> tuple[SignedIn, str]:
        """Exchange the code for an ID token and check it; the sign-in and where to go next.

        Raises:
            Denied: An unknown, used, expired or other browser's state, a refused exchange, or an ID token that
                does not verify, carries another nonce, or names nobody of the charter.
            Unavailable: The issuer cannot be reached.
        """
        with self._lock:
            pending = self._pending.pop(state, None) if len(state) <= 200 else None
        if pending is None or pending.expires <= now:
            raise Denied("this sign-in link is unknown, used or expired: start again with “Sign in with SSO”")
        if binding is None or not secrets.compare_digest(_sha(binding), pending.binding):
            raise Denied("this sign-in was started in another browser: start again with “Sign in with SSO”")
        endpoints = await self._endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
        }
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                answer = await http.post(endpoints["token_endpoint"], data=form, auth=(self.client_id, self._secret))
        except httpx.HTTPError as err:
            raise Unavailable(f"the OIDC issuer {self.issuer} cannot be reached: {err}") from None
        if answer.status_code != 200:
            raise Denied(f"the identity provider refused the sign-in ({_oauth_error(answer)})")
        id_token = _id_token(answer)
        principal = await asyncio.to_thread(self.verifier.principal, id_token, people=people)
        if principal is None:
            raise Denied("the identity provider's ID token does not verify, or names no person of the charter")
        claims = jwt.decode(id_token, options={"verify_signature": False})  # verified just above
        if not secrets.compare_digest(str(claims.get("nonce", "")), pending.nonce):
            raise Denied("the ID token was not issued for this sign-in (nonce mismatch)")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return SignedIn(principal=principal, id_token=id_token, expires=expires), pending.next

    async def principal(self, id_token: str, *, people: set[str]) -> Principal | None:
        """The person an ID token of a session still proves (None once it expired)."""
        return await asyncio.to_thread(self.verifier.principal, id_token, people=people)

    async def _endpoints(self) -> dict[str, Any]:
        cached = self._discovery
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                answer = await http.get(url)
                answer.raise_for_status()
                found = answer.json()
            endpoints = {key: str(found[key]) for key in ("authorization_endpoint", "token_endpoint")}
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as err:
            raise Unavailable(f"the OIDC issuer {self.issuer} cannot be read: {err}") from None
        self._discovery = (time.monotonic(), endpoints)
        return endpoints

    def _forget_expired(self, now: datetime) -> None:
        for state in [state for state, pending in self._pending.items() if pending.expires <= now]:
            del self._pending[state]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _oauth_error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    return f"HTTP {answer.status_code}: {str(error)[:100]}" if error else f"HTTP {answer.status_code}"


def _id_token(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        body = None
    token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise Denied("the identity provider answered without an ID token (is the `openid` scope allowed?)")
    return token
