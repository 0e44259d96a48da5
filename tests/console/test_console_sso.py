"""Single sign-on into the console: the OIDC authorization-code flow (PKCE, state, nonce) against a real test
issuer on loopback (tests/identity/oidckit.py), through httpx step by step and through Chromium end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from api.apikit import Api, serving
from consolekit import browser_client, chromium, sign_in
from harness import Stack
from identity.oidckit import CLIENT_ID, CLIENT_SECRET, Issuer
from playwright.async_api import expect


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.stop()


@pytest_asyncio.fixture
async def api(stack: Stack, tmp_path: Path, issuer: Issuer) -> AsyncIterator[Api]:
    settings = {"oidc_issuer": issuer.url, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET}
    async with serving(stack, tmp_path, **settings) as running:
        yield running


async def at_issuer(location: str) -> str:
    """Follow the console's redirect to the issuer, which signs its user in and sends the browser back."""
    async with httpx.AsyncClient(follow_redirects=False) as idp:
        answer = await idp.get(location)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    return callback


async def test_a_person_signs_in_with_sso_and_lands_where_they_were_going(api: Api, issuer: Issuer) -> None:
    async with browser_client(api) as browser:
        assert "Sign in with SSO" in (await browser.get("/login")).text
        started = await browser.get("/login/sso", params={"next": "/drills"})
        assert started.status_code == 303
        sent = urlsplit(started.headers["location"])
        query = parse_qs(sent.query)
        assert f"{sent.scheme}://{sent.netloc}{sent.path}" == f"{issuer.url}/authorize"
        assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
        assert query["redirect_uri"] == [f"{api.url}/login/sso/callback"]
        assert all(len(query[name][0]) >= 40 for name in ("state", "nonce", "code_challenge"))
        callback = await at_issuer(started.headers["location"])
        back = await browser.get(callback)
        assert (back.status_code, back.headers["location"]) == (303, "/drills")
        page = await browser.get("/drills")
        assert page.status_code == 200 and "Signed in as <strong>ana</strong>" in page.text
        replayed = await browser.get(callback)
    assert issuer.exchanged == ["ana"], "the code was exchanged once"
    assert replayed.status_code == 403 and "unknown, used or expired" in replayed.text


async def test_a_sign_in_cannot_be_finished_in_another_browser(api: Api, issuer: Issuer) -> None:
    async with browser_client(api) as attacker:
        started = await attacker.get("/login/sso")
        callback = await at_issuer(started.headers["location"])
    async with browser_client(api) as victim:
        finished = await victim.get(callback)
        assert finished.status_code == 403 and "started in another browser" in finished.text
        assert (await victim.get("/")).status_code == 303, "no session was started"
    assert issuer.exchanged == [], "the code was never even exchanged"


async def test_the_issuer_refusing_or_naming_nobody_signs_no_one_in(api: Api, issuer: Issuer) -> None:
    async with browser_client(api) as browser:
        issuer.refuse = "access_denied"
        started = await browser.get("/login/sso")
        refused = await browser.get(await at_issuer(started.headers["location"]))
        assert "The identity provider did not sign you in (access_denied)." in refused.text
        issuer.refuse, issuer.login_as = None, "mallory"
        started = await browser.get("/login/sso")
        stranger = await browser.get(await at_issuer(started.headers["location"]))
        assert stranger.status_code == 403 and "names no person of the charter" in stranger.text
        assert (await browser.get("/")).status_code == 303


async def test_an_sso_session_ends_when_its_id_token_expires(api: Api, issuer: Issuer) -> None:
    issuer.id_token_seconds = 2
    async with browser_client(api) as browser:
        started = await browser.get("/login/sso")
        await browser.get(await at_issuer(started.headers["location"]))
        assert (await browser.get("/charter")).status_code == 200
        await asyncio.sleep(3)
        ended = await browser.get("/charter")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login?")


async def test_a_pasted_oidc_token_signs_a_person_in_too(api: Api, issuer: Issuer) -> None:
    async with browser_client(api) as browser:
        signed = await sign_in(browser, issuer.token(preferred_username="carla"))
        assert signed.status_code == 303
        assert "Signed in as <strong>carla</strong>" in (await browser.get("/")).text


async def test_sso_in_the_browser(api: Api, issuer: Issuer, tmp_path: Path) -> None:
    issuer.login_as = "farid"
    async with chromium(tmp_path / "chromium-profile") as browser:
        page = await browser.new_page()
        await page.goto(f"{api.url}/gaps")
        await page.get_by_role("link", name="Sign in with SSO").click()
        await expect(page).to_have_url(f"{api.url}/gaps")
        await expect(page.get_by_text("Signed in as farid")).to_be_visible()
