"""The console's test kit: the HTTP server (API + console) on a free loopback port in front of a real worker, a
signed-in httpx client, and the system Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api.apikit import Api
from playwright.async_api import BrowserContext, async_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REFUND_40 = {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"}
REFUND_120 = {"order_id": "O-1001", "sku": "JACKET-BLK-L", "amount": "120"}
COAT_400 = {"order_id": "O-1003", "sku": "COAT-NAVY-M", "amount": "400"}


def refund(params: dict[str, str], *, customer: str = "C-100", channel: str = "chat") -> dict[str, Any]:
    return {"action": "refund", "customer": customer, "channel": channel, "reason": "arrived torn", "params": params}


def browser_client(api: Api, **options: Any) -> httpx.AsyncClient:
    """A cookie-keeping HTTP client like a browser's, that does not follow redirects (the tests look at them)."""
    return httpx.AsyncClient(base_url=api.url, timeout=60, follow_redirects=False, **options)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str, *, next: str = "/") -> httpx.Response:
    """Sign in through the form, as a browser would: read it (and its cookie), post it back."""
    form = await client.get("/login", params={"next": next})
    assert form.status_code == 200, form.text
    return await client.post("/login", data={"token": token, "csrf": csrf_of(form.text), "next": next})


def chromium_path() -> str:
    """The system Chromium (Debian's `chromium`); its absence fails the test, it never skips it."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not installed: `make test` installs it (scripts/ensure-chromium), "
            "or run `apt-get install chromium` as root"
        )
    return found


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """A headless system Chromium with a fresh user data dir, downloads allowed, closed when the block ends."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


@dataclass
class Shots:
    """Full-page screenshots of each console page into docs/screenshots/<page>.png (overwritten each run)."""

    directory: Path = SCREENSHOTS

    async def take(self, page: Any, name: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, f"{path} looks empty"
        return path
