"""Single sign-on for people: an OIDC ID or access token from the configured issuer names a person.

The issuer's discovery document gives its JWKS; a token counts when its signature verifies against those
keys (RS256, ES256 or EdDSA), its `iss` is the issuer, its `aud` holds the audience, it has not expired, and
its claim (CXGOV_OIDC_CLAIM, default `preferred_username`) names a person of the active charter.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from cxgov.errors import Unavailable
from cxgov.identity.keys import Principal

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
KEYS_TTL = 300.0
"""Seconds the issuer's keys are kept before they are fetched again (a token with an unknown key id refetches)."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    claim: str = "preferred_username"


class OidcVerifier:
    """Verifies bearer tokens from one OIDC issuer.

    Args:
        settings: Issuer, audience and the claim naming the person.
        http: The client that fetches discovery and keys (a default one when omitted).
    """

    def __init__(self, settings: OidcSettings, *, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=5.0)
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0

    def principal(self, token: str, *, people: set[str]) -> Principal | None:
        """The person a token names, or None when it does not verify or names nobody of the charter.

        Raises:
            Unavailable: The issuer's keys cannot be fetched.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        key = self._key(str(header.get("kid", "")))
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        name = claims.get(self.settings.claim)
        if not isinstance(name, str) or name not in people:
            return None
        return Principal(name=name, kind="person", via=f"oidc {self.settings.issuer}")

    def _key(self, kid: str) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched > KEYS_TTL
            if stale or kid not in self._keys:
                self._keys = self._fetch()
                self._fetched = time.monotonic()
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, Any]:
        issuer = self.settings.issuer.rstrip("/")
        try:
            discovery = self._http.get(f"{issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks = self._http.get(discovery.json()["jwks_uri"])
            jwks.raise_for_status()
            found = jwt.PyJWKSet.from_dict(jwks.json())
        except (httpx.HTTPError, KeyError, ValueError, jwt.PyJWTError) as err:
            raise Unavailable(f"the OIDC issuer {issuer} cannot be read: {err}") from None
        return {key.key_id: key.key for key in found.keys if key.key_id}
