"""The example shop (examples/shop) as a real process: its HTTP contract, idempotency, refusals and test hooks."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "shop-test-token"
START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    """One HTTP answer from the shop."""

    status: int
    body: Any
    headers: dict[str, str]


def _start(data: Path, stderr: Path, token: str | None) -> tuple[subprocess.Popen[str], str]:
    env = {key: value for key, value in os.environ.items() if key != "SHOP_TOKEN"}
    if token is not None:
        env["SHOP_TOKEN"] = token
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.shop", "--data", str(data), "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("shop listening on http://"):
        _stop(process)
        pytest.fail(f"the shop did not start: {line!r}\n{stderr.read_text()}")
    return process, line.removeprefix("shop listening on ").strip()


def _stop(process: subprocess.Popen[str]) -> int:
    process.terminate()
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return code


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one shop process (token required) for this module, stopped by its id afterwards."""
    folder = tmp_path_factory.mktemp("shop")
    process, url = _start(folder / "shop.db", folder / "stderr.log", TOKEN)
    try:
        yield url
    finally:
        _stop(process)


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    token: str | None = TOKEN,
) -> Answer:
    """Send one request; `body` is JSON-encoded unless it is bytes."""
    data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, json.loads(response.read()), dict(response.headers))
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, json.loads(error.read()), dict(error.headers))


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def new_order(url: str, lines: list[dict[str, str]] | None = None, customer: str = "C-100") -> dict[str, Any]:
    """A fresh order of `customer`, placed now, so each test changes only its own order."""
    lines = lines or [{"sku": "TEE-RED-M", "price": "40"}, {"sku": "HAT-GRN", "price": "25.50"}]
    answer = call(url, "POST", "/orders", {"customer": customer, "lines": lines}, key=new_key())
    assert answer.status == 201, answer.body
    order: dict[str, Any] = answer.body
    return order


def test_health_is_open_and_everything_else_needs_the_token(shop: str) -> None:
    assert call(shop, "GET", "/health", token=None).body == {"ok": True}
    for token in (None, "wrong"):
        answer = call(shop, "GET", "/customers/C-100", token=token)
        assert (answer.status, answer.body) == (401, {"error": "missing or wrong bearer token"})
    assert call(shop, "POST", "/orders/O-1001/refunds", {}, key=new_key(), token=None).status == 401


def test_customers_and_seeded_orders(shop: str) -> None:
    assert call(shop, "GET", "/customers/C-200").body == {"id": "C-200", "name": "Bo Chen", "tier": "gold"}
    assert call(shop, "GET", "/customers/C-9").body == {"error": "customer C-9 not found"}
    order = call(shop, "GET", "/orders/O-1003").body
    assert order["customer"] == "C-300"
    assert (order["status"], order["shipped"], order["cancellable"]) == ("open", False, True)
    assert order["lines"] == [{"sku": "COAT-NAVY-M", "price": "420.00", "refunded": "0.00", "left": "420.00"}]
    assert call(shop, "GET", "/orders/O-1002").body["cancellable"] is False
    assert call(shop, "GET", "/orders/O-404").status == 404
    assert call(shop, "GET", "/nowhere").status == 404


def test_post_orders_creates_an_order(shop: str) -> None:
    order = new_order(shop, [{"sku": "S", "price": "100"}])
    assert order["id"].startswith("O-") and len(order["id"]) == 10
    assert (order["customer"], order["status"], order["shipped"], order["cancellable"]) == (
        "C-100",
        "open",
        False,
        True,
    )
    assert order["lines"] == [{"sku": "S", "price": "100.00", "refunded": "0.00", "left": "100.00"}]
    assert call(shop, "GET", f"/orders/{order['id']}").body == order
    unknown = call(shop, "POST", "/orders", {"customer": "C-9", "lines": [{"sku": "S", "price": "1"}]}, key=new_key())
    assert (unknown.status, unknown.body) == (404, {"error": "customer C-9 not found"})
    no_lines = call(shop, "POST", "/orders", {"customer": "C-100"}, key=new_key())
    assert no_lines.status == 422 and "'lines'" in no_lines.body["error"]


def test_refund_is_idempotent_per_key(shop: str) -> None:
    order = new_order(shop)
    path, key = f"/orders/{order['id']}/refunds", new_key()
    body = {"sku": "TEE-RED-M", "amount": "15", "customer": "C-100"}
    first = call(shop, "POST", path, body, key=key)
    assert first.status == 201
    assert first.body["id"].startswith("R-")
    assert {k: v for k, v in first.body.items() if k != "id"} == {
        "order_id": order["id"],
        "sku": "TEE-RED-M",
        "amount": "15.00",
        "status": "pending",
        "key": key,
    }
    assert "Idempotent-Replay" not in first.headers
    again = call(shop, "POST", path, body, key=key)
    assert (again.status, again.body, again.headers.get("Idempotent-Replay")) == (201, first.body, "true")
    line = call(shop, "GET", f"/orders/{order['id']}").body["lines"][0]
    assert (line["refunded"], line["left"]) == ("15.00", "25.00")  # refunded once, not twice
    assert call(shop, "GET", f"/refunds/{first.body['id']}").body == first.body
    logged = [w for w in call(shop, "GET", "/admin/log").body["writes"] if w["key"] == key]
    assert [(w["method"], w["path"], w["status"]) for w in logged] == [("POST", path, 201)] * 2

    other = call(shop, "POST", path, {**body, "amount": "16"}, key=key)
    assert (other.status, other.body) == (
        422,
        {"error": f"Idempotency-Key {key} was already used for a different request"},
    )
    missing = call(shop, "POST", path, body)
    assert (missing.status, missing.body) == (400, {"error": "Idempotency-Key header is required on every write"})
    assert call(shop, "GET", "/admin/log").body["writes"][-1]["status"] == 400


def test_refund_refusals(shop: str) -> None:
    order = new_order(shop)
    path = f"/orders/{order['id']}/refunds"
    over = call(shop, "POST", path, {"sku": "TEE-RED-M", "amount": "500"}, key=new_key())
    assert (over.status, over.body) == (
        409,
        {
            "error": f"refund of 500.00 exceeds what is left to refund on order {order['id']} line TEE-RED-M: 40.00 of 40.00"
        },
    )
    wrong = call(shop, "POST", path, {"sku": "TEE-RED-M", "amount": "1", "customer": "C-200"}, key=new_key())
    assert (wrong.status, wrong.body) == (403, {"error": f"order {order['id']} is not customer C-200's"})
    sku = call(shop, "POST", path, {"sku": "NOPE", "amount": "1"}, key=new_key())
    assert sku.status == 422 and "TEE-RED-M, HAT-GRN" in sku.body["error"]
    for amount in ("0", "-1", "1.005", "abc", None):
        bad = call(shop, "POST", path, {"sku": "TEE-RED-M", "amount": amount}, key=new_key())
        assert bad.status == 422 and "'amount'" in bad.body["error"], amount
    assert call(shop, "POST", path, b"{not json", key=new_key()).status == 422
    assert call(shop, "POST", path, b"x" * (64 * 1024 + 1), key=new_key()).status == 413
    assert call(shop, "POST", "/orders/O-404/refunds", {"sku": "S", "amount": "1"}, key=new_key()).status == 404

    # A refused request is not stored: retried with the same key, it is decided again.
    first = call(shop, "POST", path, {"sku": "HAT-GRN", "amount": "15"}, key=new_key())
    key, body = new_key(), {"sku": "HAT-GRN", "amount": "20"}
    assert call(shop, "POST", path, body, key=key).status == 409
    assert call(shop, "POST", f"/refunds/{first.body['id']}/reverse", key=new_key()).status == 200
    retried = call(shop, "POST", path, body, key=key)
    assert retried.status == 201 and "Idempotent-Replay" not in retried.headers


def test_reverse_and_the_view_without_a_refund(shop: str) -> None:
    order = new_order(shop)
    before = call(shop, "GET", f"/orders/{order['id']}").body
    refund = call(shop, "POST", f"/orders/{order['id']}/refunds", {"sku": "TEE-RED-M", "amount": "40"}, key=new_key())
    assert call(shop, "GET", f"/orders/{order['id']}").body["lines"][0]["left"] == "0.00"
    without = call(shop, "GET", f"/orders/{order['id']}?without_refund={refund.body['id']}").body
    assert without == before
    foreign = call(shop, "GET", f"/orders/O-1003?without_refund={refund.body['id']}")
    assert foreign.status == 422 and "without_refund" in foreign.body["error"]

    reversed_ = call(shop, "POST", f"/refunds/{refund.body['id']}/reverse", key=new_key())
    assert (reversed_.status, reversed_.body) == (200, {**refund.body, "status": "reversed"})
    assert call(shop, "GET", f"/orders/{order['id']}").body == before
    assert call(shop, "POST", f"/refunds/{refund.body['id']}/reverse", key=new_key()).body == reversed_.body
    assert call(shop, "POST", "/refunds/R-999999/reverse", key=new_key()).status == 404


def test_paid_out_refund_can_no_longer_be_reversed(shop: str) -> None:
    order = new_order(shop)
    refund = call(shop, "POST", f"/orders/{order['id']}/refunds", {"sku": "HAT-GRN", "amount": "5"}, key=new_key())
    payout = call(shop, "POST", f"/admin/orders/{order['id']}/payout")
    assert payout.body == {"paid_out": [refund.body["id"]]}
    assert call(shop, "GET", f"/refunds/{refund.body['id']}").body["status"] == "paid_out"
    late = call(shop, "POST", f"/refunds/{refund.body['id']}/reverse", key=new_key())
    assert (late.status, late.body) == (
        409,
        {"error": f"refund {refund.body['id']} was paid out; it can no longer be reversed"},
    )


def test_cancel_and_undo(shop: str) -> None:
    order = new_order(shop)
    before = call(shop, "GET", f"/orders/{order['id']}").body
    key = new_key()
    wrong = call(shop, "POST", f"/orders/{order['id']}/cancel", {"customer": "C-300"}, key=new_key())
    assert (wrong.status, wrong.body) == (403, {"error": f"order {order['id']} is not customer C-300's"})
    cancelled = call(shop, "POST", f"/orders/{order['id']}/cancel", {"customer": "C-100"}, key=key)
    assert cancelled.status == 200
    cancellation = cancelled.body["cancellation"]
    assert cancellation.startswith("X-")
    assert (cancelled.body["order"]["status"], cancelled.body["order"]["cancellable"]) == ("cancelled", False)
    assert call(shop, "GET", f"/orders/{order['id']}?without_cancellation={cancellation}").body == before
    again = call(shop, "POST", f"/orders/{order['id']}/cancel", key=new_key())
    assert (again.status, again.body) == (409, {"error": f"order {order['id']} is already cancelled"})
    assert call(shop, "GET", f"/cancellations/{cancellation}").body == {
        "id": cancellation,
        "order_id": order["id"],
        "undone": False,
    }

    undone = call(shop, "POST", f"/cancellations/{cancellation}/undo", key=new_key())
    assert undone.status == 200
    assert undone.body == {"id": cancellation, "order_id": order["id"], "undone": True, "order": before}
    assert call(shop, "POST", f"/cancellations/{cancellation}/undo", key=new_key()).body == undone.body
    assert call(shop, "GET", "/cancellations/X-999999").status == 404


def test_cancel_refuses_shipped_and_old_orders(shop: str) -> None:
    shipped = call(shop, "POST", "/orders/O-1002/cancel", key=new_key())
    assert shipped.status == 409
    assert shipped.body["error"].startswith("order O-1002 was shipped at ")
    assert shipped.body["error"].endswith("; it can no longer be cancelled")

    order = new_order(shop)
    aged = call(shop, "POST", f"/admin/orders/{order['id']}/age", {"hours": 30}).body
    assert aged["cancellable"] is False
    old = call(shop, "POST", f"/orders/{order['id']}/cancel", key=new_key())
    assert (old.status, old.body) == (
        409,
        {"error": f"order {order['id']} was placed at {aged['placed_at']}, more than 24 hours ago"},
    )

    fresh = new_order(shop)
    cancellation = call(shop, "POST", f"/orders/{fresh['id']}/cancel", key=new_key()).body["cancellation"]
    assert call(shop, "POST", f"/admin/orders/{fresh['id']}/ship").body["shipped"] is True
    late = call(shop, "POST", f"/cancellations/{cancellation}/undo", key=new_key())
    assert late.status == 409 and "can no longer be undone" in late.body["error"]


def test_injected_faults(shop: str) -> None:
    order = new_order(shop)
    path = f"/orders/{order['id']}/refunds"
    armed = call(shop, "POST", "/admin/faults", {"status": 503, "times": 1, "path_prefix": path})
    assert armed.status == 200
    key, body = new_key(), {"sku": "TEE-RED-M", "amount": "10"}
    failed = call(shop, "POST", path, body, key=key)
    assert (failed.status, failed.body) == (503, {"error": "injected fault: 503"})
    assert call(shop, "GET", f"/orders/{order['id']}").body == order  # the faulted request did nothing
    retried = call(shop, "POST", path, body, key=key)
    assert retried.status == 201 and "Idempotent-Replay" not in retried.headers

    call(shop, "POST", "/admin/faults", {"delay_seconds": 0.4, "times": 1, "path_prefix": f"/orders/{order['id']}"})
    started = time.monotonic()
    assert call(shop, "GET", f"/orders/{order['id']}").status == 200
    assert time.monotonic() - started >= 0.4
    bad = call(shop, "POST", "/admin/faults", {"times": 1})
    assert bad.status == 422


def test_open_shop_without_token_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, url = _start(tmp_path / "open.db", tmp_path / "stderr.log", None)
    try:
        assert call(url, "GET", "/customers/C-100", token=None).status == 200
    finally:
        code = _stop(process)
    assert code == 0


def test_concurrent_refunds_never_exceed_the_line(shop: str) -> None:
    order = new_order(shop)
    path, body = f"/orders/{order['id']}/refunds", {"sku": "TEE-RED-M", "amount": "10"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda _: call(shop, "POST", path, body, key=new_key()).status, range(8)))
    assert statuses == [201] * 4 + [409] * 4
    assert call(shop, "GET", f"/orders/{order['id']}").body["lines"][0]["left"] == "0.00"
