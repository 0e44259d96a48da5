"""A minimal OIDC issuer on a loopback port, for the single sign-on tests.

Besides discovery and JWKS it runs the authorization-code flow for one client (the console's "Sign in with
SSO"): `/authorize` signs in `login_as` at once (no login page) and redirects back with a code; `/token` checks
the client's secret (client_secret_basic), the redirect URI and the PKCE verifier, and answers with an ID token
carrying the nonce. `refuse` makes `/authorize` answer with an OAuth error instead."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "cxgov"
CLIENT_ID = "cxgov-console"
CLIENT_SECRET = "console-secret-for-tests"


class Issuer:
    """A minimal OIDC issuer: discovery document and JWKS, plus tokens signed with its private key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.login_as = "ana"
        """Who `/authorize` signs in (the person at the identity provider)."""
        self.refuse: str | None = None
        """An OAuth error code `/authorize` answers with instead of a code (e.g. access_denied)."""
        self.id_token_seconds = 300
        """How long the ID tokens of `/token` are valid."""
        self.codes: dict[str, dict[str, str]] = {}
        self.exchanged: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/authorize?"):
                    self._authorize(parse_qs(urlsplit(self.path).query))
                    return
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                    }
                elif self.path == "/jwks":
                    jwk = json.loads(RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": issuer.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                self._json(200, body)

            def do_POST(self) -> None:
                if self.path != "/token":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._json(401, {"error": "invalid_client"})
                    return
                grant = issuer.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (
                    grant is None
                    or form.get("grant_type") != "authorization_code"
                    or form.get("redirect_uri") != grant["redirect_uri"]
                    or challenge != grant["challenge"]
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                issuer.exchanged.append(grant["user"])
                id_token = issuer.token(
                    aud=CLIENT_ID,
                    nonce=grant["nonce"],
                    preferred_username=grant["user"],
                    exp=int(time.time()) + issuer.id_token_seconds,
                )
                self._json(200, {"access_token": "opaque", "token_type": "Bearer", "id_token": id_token})

            def _authorize(self, query: dict[str, list[str]]) -> None:
                one = {k: v[0] for k, v in query.items()}
                if one.get("client_id") != CLIENT_ID or one.get("response_type") != "code":
                    self._json(400, {"error": "unauthorized_client"})
                    return
                if one.get("code_challenge_method") != "S256" or not one.get("code_challenge"):
                    self._json(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
                    return
                answer = {"state": one.get("state", "")}
                if issuer.refuse is not None:
                    answer["error"] = issuer.refuse
                else:
                    code = secrets.token_urlsafe(16)
                    issuer.codes[code] = {
                        "redirect_uri": one.get("redirect_uri", ""),
                        "nonce": one.get("nonce", ""),
                        "challenge": one["code_challenge"],
                        "user": issuer.login_as,
                    }
                    answer["code"] = code
                self.send_response(302)
                self.send_header("Location", f"{one.get('redirect_uri', '')}?{urlencode(answer)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, **claims: Any) -> str:
        body = {"iss": self.url, "aud": AUDIENCE, "exp": int(time.time()) + 300, "preferred_username": "ana"}
        body.update(claims)
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None}, self.key, algorithm="RS256", headers={"kid": self.kid}
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
