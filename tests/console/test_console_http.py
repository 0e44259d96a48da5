"""The console over plain HTTP (httpx against the real server on loopback, a real worker behind it): redirects to
sign in, cookie flags, CSRF on every form, sign-out, and that a session cookie opens nothing of the JSON API."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from api.apikit import Api, serving
from consolekit import REFUND_120, browser_client, csrf_of, refund, sign_in
from harness import Stack

from cxgov.console.sessions import SessionStore, safe_next


@pytest_asyncio.fixture
async def api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    async with serving(stack, tmp_path) as running:
        yield running


def cookie_header(response: object, name: str) -> str:
    headers = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]  # type: ignore[attr-defined]
    assert len(headers) == 1, f"expected one Set-Cookie for {name}, got {headers}"
    return headers[0]


async def test_a_person_without_a_session_is_sent_to_sign_in_and_comes_back(api: Api) -> None:
    async with browser_client(api) as browser:
        home = await browser.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/login")
        deep = await browser.get("/actions", params={"customer": "C-100"})
        assert deep.status_code == 303
        assert parse_qs(urlsplit(deep.headers["location"]).query) == {"next": ["/actions?customer=C-100"]}
        posted = await browser.post(f"/actions/action-{uuid.uuid4()}/approve", data={"reason": "x"})
        assert (posted.status_code, posted.headers["location"]) == (303, "/login")
        signed = await sign_in(browser, api.token("ana"), next="/actions?customer=C-100")
        assert (signed.status_code, signed.headers["location"]) == (303, "/actions?customer=C-100")
        page = await browser.get("/actions", params={"customer": "C-100"})
    assert page.status_code == 200 and "Signed in as <strong>ana</strong>" in page.text


async def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(api: Api) -> None:
    async with browser_client(api) as browser:
        plain = cookie_header(await sign_in(browser, api.token("ana")), "cxgov_session")
    assert "HttpOnly" in plain and "SameSite=lax" in plain and "Path=/" in plain
    assert "Secure" not in plain, "over plain http a Secure cookie would never come back"
    # Behind a TLS proxy on loopback (uvicorn trusts X-Forwarded-Proto from 127.0.0.1 by default). httpx keeps
    # Secure cookies for https only, so the sign-in form's cookie is sent back by hand, as the proxy would.
    async with browser_client(api, headers={"X-Forwarded-Proto": "https"}) as proxied:
        form = await proxied.get("/login")
        login_cookie = cookie_header(form, "cxgov_login")
        assert "Secure" in login_cookie and "Path=/login" in login_cookie
        value = login_cookie.split(";")[0].split("=", 1)[1]
        signed = await proxied.post(
            "/login",
            data={"token": api.token("ana"), "csrf": csrf_of(form.text)},
            headers={"Cookie": f"cxgov_login={value}"},
        )
        secure = cookie_header(signed, "cxgov_session")
    assert "Secure" in secure and "HttpOnly" in secure and "SameSite=lax" in secure
    assert api.tokens["ana"] not in plain + secure, "the cookie is a random session id, never the key"


async def test_wrong_keys_and_actor_keys_are_refused_with_a_message(api: Api) -> None:
    async with browser_client(api) as browser:
        wrong = await sign_in(browser, "cxgov_k0000000000000000_" + "x" * 43)
        actor = await sign_in(browser, api.token("support-bot"))
        assert (await browser.get("/")).status_code == 303, "neither started a session"
    assert wrong.status_code == 401 and "That key is not valid: it is unknown, expired or revoked." in wrong.text
    assert actor.status_code == 403 and "That is the key of the actor support-bot" in actor.text
    assert "cxgov_session" not in wrong.headers.get("set-cookie", "") + actor.headers.get("set-cookie", "")


async def test_every_form_needs_its_csrf_token(api: Api) -> None:
    async with api.client("support-bot") as bot:
        waiting = (await bot.post("/v1/actions", json=refund(REFUND_120))).json()
    action_id = waiting["action_id"]
    async with browser_client(api) as browser:
        form = await browser.get("/login")
        forged = await browser.post("/login", data={"token": api.token("ben"), "csrf": "made-up"})
        assert forged.status_code == 403 and "did not come from this console" in forged.text
        missing = await browser.post("/login", data={"token": api.token("ben")})
        assert missing.status_code == 403
        assert (
            await browser.post("/login", data={"token": api.token("ben"), "csrf": csrf_of(form.text)})
        ).status_code == 303
        page = await browser.get(f"/actions/{action_id}")
        digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page.text)
        assert digest is not None, "ben sees the approve form, bound to the digest"
        for token in (None, "", "not-the-token"):
            data = {"reason": "photo checked", "digest": digest.group(1)}
            if token is not None:
                data["csrf"] = token
            refused = await browser.post(f"/actions/{action_id}/approve", data=data)
            assert refused.status_code == 403 and "CSRF token is missing or wrong" in refused.text
        for path in ("/logout", "/drills/refund/run", f"/actions/{action_id}/reverse"):
            assert (await browser.post(path, data={"reason": "x"})).status_code == 403, path
        assert (await browser.get("/")).status_code == 200, "the session survived the refused sign-out"
    async with api.client("ana") as ana:
        status = (await ana.get(f"/v1/actions/{action_id}")).json()
    assert (status["status"], status["approvals"]) == ("awaiting_approval", []), "nothing reached the workflow"


async def test_sign_out_ends_the_session_on_the_server(api: Api) -> None:
    async with browser_client(api) as browser:
        await sign_in(browser, api.token("farid"))
        page = await browser.get("/drills")
        stolen = browser.cookies.get("cxgov_session")
        out = await browser.post("/logout", data={"csrf": csrf_of(page.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/login?why=out")
        assert 'cxgov_session=""' in cookie_header(out, "cxgov_session")
    async with browser_client(api, cookies={"cxgov_session": stolen or ""}) as replay:
        again = await replay.get("/drills")
    assert again.status_code == 303 and again.headers["location"].startswith("/login?"), "the old id opens nothing"


async def test_a_revoked_key_ends_its_session_at_once(api: Api) -> None:
    token = api.token("ben")
    async with browser_client(api) as browser:
        await sign_in(browser, token)
        assert (await browser.get("/charter")).status_code == 200
        api.keys.revoke(key_id=token.split("_")[1], now=datetime.now(UTC))
        ended = await browser.get("/charter")
        assert ended.status_code == 303 and "why=ended" in ended.headers["location"]
        notice = await browser.get(ended.headers["location"])
    assert "Your session ended" in notice.text


async def test_a_session_opens_no_json_endpoint_and_the_api_is_unchanged(api: Api) -> None:
    async with browser_client(api) as browser:
        await sign_in(browser, api.token("ana"))
        assert (await browser.get("/v1/approvals")).status_code == 401, "the API takes bearer credentials only"
        health = await browser.get("/healthz")
        spec = (await browser.get("/openapi.json")).json()
        docs = await browser.get("/docs")
    assert health.json()["ok"] is True and docs.status_code == 200
    assert all(path.startswith(("/v1/", "/healthz")) for path in spec["paths"]), sorted(spec["paths"])


async def test_pages_load_nothing_from_elsewhere_and_carry_protective_headers(api: Api) -> None:
    async with browser_client(api) as browser:
        await sign_in(browser, api.token("ana"))
        paths = ("/", "/actions", "/drills", "/gaps", "/questions", "/charter", "/audit")
        pages = {path: await browser.get(path) for path in paths}
        style = await browser.get("/static/console.css")
    async with browser_client(api) as anonymous:
        pages["/login"] = await anonymous.get("/login")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for path, answer in pages.items():
        assert answer.status_code == 200, (path, answer.text[:300])
        assert "<script" not in answer.text, f"{path} needs no JavaScript"
        external = re.findall(r'(?:src|href)="(?:https?:)?//[^"]*"', answer.text)
        assert external == [], f"{path} loads {external}"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"


async def test_bad_input_is_a_page_with_its_reason(api: Api) -> None:
    async with browser_client(api) as browser:
        await sign_in(browser, api.token("ana"))
        unknown = await browser.get(f"/actions/action-{uuid.uuid4()}")
        malformed = await browser.get("/actions/not-an-action")
        bad_filter = await browser.get("/actions", params={"customer": 'C-1" OR x'})
        bad_since = await browser.get("/audit", params={"since": "last tuesday"})
        too_long = await browser.get("/audit", params={"actor": "x" * 101})
        bad_format = await browser.get("/audit/export", params={"format": "xml"})
    assert unknown.status_code == 404 and "no action action-" in unknown.text
    assert malformed.status_code == 422 and "Traceback" not in malformed.text
    assert bad_filter.status_code == 422 and "customer" in bad_filter.text
    assert bad_since.status_code == 422 and "since &#39;last tuesday&#39;" in bad_since.text
    assert too_long.status_code == 422 and "actor: String should have at most 100 characters" in too_long.text
    assert bad_format.status_code == 422 and "format" in bad_format.text
    for answer in (unknown, malformed, bad_filter, bad_since, too_long, bad_format):
        assert answer.headers["content-type"].startswith("text/html"), "a page, not the API's JSON"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/actions?customer=C-100", "/actions?customer=C-100"),
        ("/", "/"),
        ("", "/"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("relative/path", "/"),
    ],
)
def test_only_same_site_paths_are_followed_after_sign_in(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_sessions_expire_and_their_ids_are_random() -> None:
    store = SessionStore()
    now = datetime.now(UTC)
    first = store.open(person="ana", credential="k", via="key", now=now)
    second = store.open(person="ana", credential="k", via="key", now=now)
    assert first != second and len(first) >= 40
    assert store.get(first, now=now) is not None
    assert store.get(first, now=now + store.lifetime) is None, "a session ends after its lifetime"
    assert store.get("forged", now=now) is None and store.get(None, now=now) is None


async def test_a_decision_is_bound_to_the_digest_the_page_showed(api: Api) -> None:
    async with api.client("support-bot") as bot:
        action_id = (await bot.post("/v1/actions", json=refund(REFUND_120))).json()["action_id"]
    async with browser_client(api) as browser:
        await sign_in(browser, api.token("ana"))
        csrf = csrf_of((await browser.get(f"/actions/{action_id}")).text)
        form = {"csrf": csrf, "reason": "looks right", "digest": "0" * 64}
        stale = await browser.post(f"/actions/{action_id}/approve", data=form)
        assert (stale.status_code, stale.headers["location"]) == (303, f"/actions/{action_id}")
        shown = (await browser.get(f"/actions/{action_id}")).text
        unbound = await browser.post(f"/actions/{action_id}/approve", data={"csrf": csrf, "reason": "no digest"})
        after = (await browser.get(unbound.headers["location"])).text
    assert "Refused: the approve names digest 000000000000, but this action&#39;s digest is" in shown
    assert "it is not the action that was reviewed" in shown and "awaiting approval" in shown
    assert "The form names no digest" in after
    async with api.client("ana") as ana:
        attempts = (await ana.get(f"/v1/actions/{action_id}")).json()["approvals"]
    assert [(a["person"], a["accepted"]) for a in attempts] == [("ana", False)], "the refusal is on the record"
