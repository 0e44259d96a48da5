"""Single sign-on: OIDC tokens signed with a locally generated key, the issuer's discovery and JWKS served on a
loopback port by a real HTTP server that the test starts and stops."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cxgov.errors import Unavailable
from cxgov.identity.oidc import OidcSettings, OidcVerifier

PEOPLE = {"ana", "ben", "farid"}
AUDIENCE = "cxgov"


class Issuer:
    """A minimal OIDC issuer: discovery document and JWKS, plus tokens signed with its private key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    jwk = json.loads(RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": issuer.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
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


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.stop()


@pytest.fixture
def verifier(issuer: Issuer) -> OidcVerifier:
    return OidcVerifier(OidcSettings(issuer=issuer.url, audience=AUDIENCE))


def test_a_token_from_the_issuer_names_a_person_of_the_charter(issuer: Issuer, verifier: OidcVerifier) -> None:
    principal = verifier.principal(issuer.token(), people=PEOPLE)
    assert principal is not None and (principal.name, principal.kind) == ("ana", "person")
    assert principal.via == f"oidc {issuer.url}"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "http://127.0.0.1:1"},
        {"exp": int(time.time()) - 10},
        {"exp": None},
        {"preferred_username": "mallory"},
        {"preferred_username": None},
    ],
)
def test_tokens_that_do_not_verify_or_name_nobody_prove_nothing(
    issuer: Issuer, verifier: OidcVerifier, claims: dict[str, Any]
) -> None:
    assert verifier.principal(issuer.token(**claims), people=PEOPLE) is None


def test_a_forged_or_unsigned_token_proves_nothing(issuer: Issuer, verifier: OidcVerifier) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60, "preferred_username": "ana"},
        other,
        algorithm="RS256",
        headers={"kid": issuer.kid},
    )
    unsigned = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "preferred_username": "ana"}, None, algorithm="none")
    for token in (forged, unsigned, "not a token", issuer.token()[:-8]):
        assert verifier.principal(token, people=PEOPLE) is None


def test_an_issuer_that_cannot_be_read_is_unavailable_not_a_pass() -> None:
    lost = OidcVerifier(OidcSettings(issuer="http://127.0.0.1:1", audience=AUDIENCE))
    token = jwt.encode({"aud": AUDIENCE}, "secret-key-of-at-least-32-bytes!!", algorithm="HS256", headers={"kid": "x"})
    with pytest.raises(Unavailable, match="cannot be read"):
        lost.principal(token, people=PEOPLE)
