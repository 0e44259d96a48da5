"""Single sign-on: OIDC tokens signed with a locally generated key, the issuer's discovery and JWKS served on a
loopback port by a real HTTP server that the test starts and stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oidckit import AUDIENCE, Issuer

from cxgov.errors import Unavailable
from cxgov.identity.oidc import OidcSettings, OidcVerifier

PEOPLE = {"ana", "ben", "farid"}


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
