"""The shop's HTTP API: bearer-token auth, injected faults, routing, and JSON in and out.

`ShopApp` decides every answer from a parsed request; `ShopServer` and its handler only move bytes.
"""

from __future__ import annotations

import hmac
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit

from examples.shop.store import Store
from examples.shop.values import Json, ShopError, Write, parse_body

MAX_BODY_BYTES = 64 * 1024
MAX_DRAINED_BYTES = 1024 * 1024
MAX_DELAY_SECONDS = 60.0

Kind: TypeAlias = Literal["read", "write", "admin"]


@dataclass(frozen=True)
class Request:
    """What a route handler sees: the path's ids, the query, the raw body and the Idempotency-Key."""

    ids: tuple[str, ...]
    query: dict[str, str]
    body: bytes
    key: str | None


@dataclass(frozen=True)
class Response:
    """An answer: status, JSON text, and extra headers."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


Handler: TypeAlias = Callable[[Request], tuple[int, Json]]


@dataclass(frozen=True)
class Route:
    """One endpoint: a method, a path pattern whose groups are ids, what kind of request it is, its handler."""

    method: str
    pattern: re.Pattern[str]
    kind: Kind
    handler: Handler


@dataclass
class Fault:
    """A fault armed by `POST /admin/faults`: delay and/or fail the next `times` matching requests."""

    status: int | None
    delay_seconds: float
    times: int
    path_prefix: str

    def view(self) -> Json:
        """The fault as JSON."""
        return {
            "status": self.status,
            "delay_seconds": self.delay_seconds,
            "times": self.times,
            "path_prefix": self.path_prefix,
        }


class Faults:
    """The armed faults, consumed first-armed first by the requests they match."""

    def __init__(self) -> None:
        """Start with no fault armed."""
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def arm(self, body: Json) -> Fault:
        """Arm a fault described by `{"status"?, "delay_seconds"?, "times"?, "path_prefix"?}`.

        Raises:
            ShopError: 422 naming the field that is missing or ill-typed.
        """
        status, delay, times = body.get("status"), body.get("delay_seconds", 0), body.get("times", 1)
        prefix = body.get("path_prefix", "/")
        if status is not None and (not _is_int(status) or not 400 <= status <= 599):
            raise ShopError(422, "field 'status' must be an HTTP error status from 400 to 599")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_SECONDS:
            raise ShopError(422, f"field 'delay_seconds' must be a number from 0 to {MAX_DELAY_SECONDS:g}")
        if status is None and not delay:
            raise ShopError(422, "field 'status' or 'delay_seconds' is required")
        if not _is_int(times) or times < 1:
            raise ShopError(422, "field 'times' must be a positive integer")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ShopError(422, "field 'path_prefix' must be a path starting with '/'")
        fault = Fault(status, float(delay), times, prefix)
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The first armed fault matching `path`, with one of its `times` used up."""
        with self._lock:
            fault = next((fault for fault in self._armed if path.startswith(fault.path_prefix)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._armed.remove(fault)
        return fault


class ShopApp:
    """Every answer the shop gives, decided from the method, target, headers and body of a request."""

    def __init__(self, store: Store, token: str | None) -> None:
        """Serve `store`; require `Authorization: Bearer <token>` when `token` is set."""
        self.store = store
        self.faults = Faults()
        self._expected = f"Bearer {token}".encode() if token else None
        self.routes = self._routes()

    def handle(self, method: str, target: str, headers: Message, read_body: Callable[[], bytes | None]) -> Response:
        """Answer one request; `read_body` returns the body, or `None` when it is over the size limit."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if method == "GET" and path == "/health":
            return _json(200, {"ok": True})
        if self._expected is not None:
            given = (headers.get("Authorization") or "").strip().encode()
            if not hmac.compare_digest(given, self._expected):
                return _error(401, "missing or wrong bearer token")
        if not path.startswith("/admin/"):
            fault = self.faults.take(path)
            if fault is not None:
                time.sleep(fault.delay_seconds)
                if fault.status is not None:
                    return _error(fault.status, f"injected fault: {fault.status}")
        route, match = self._match(method, path)
        if route is None or match is None:
            return _error(404, f"no route for {method} {path}")
        key = headers.get("Idempotency-Key")
        key = key.strip() if key is not None else None
        if route.kind == "read":
            try:
                return _json(200, route.handler(Request(match.groups(), query, b"", key))[1])
            except ShopError as exc:
                return _error(exc.status, exc.message)
        body = read_body()
        write = Write(method, path, key, body or b"")
        if body is None:
            self.store.log_refusal(write, 413)
            return _error(413, f"request body is over {MAX_BODY_BYTES} bytes")
        request = Request(match.groups(), query, body, key)
        reply = self.store.write(write, lambda: route.handler(request), idempotent=route.kind == "write")
        return Response(reply.status, reply.body, {"Idempotent-Replay": "true"} if reply.replay else {})

    def _match(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is not None and route.method == method:
                return route, match
        return None, None

    def _routes(self) -> list[Route]:
        store, one = self.store, "([^/]+)"

        def route(method: str, path: str, kind: Kind, handler: Handler) -> Route:
            return Route(method, re.compile(path.replace("{id}", one)), kind, handler)

        return [
            route("GET", "/customers/{id}", "read", lambda r: (200, store.customer(r.ids[0]))),
            route("GET", "/orders/{id}", "read", lambda r: (200, self._order(r))),
            route("POST", "/orders", "write", lambda r: store.create_order(parse_body(r.body))),
            route(
                "POST",
                "/orders/{id}/refunds",
                "write",
                lambda r: store.create_refund(r.ids[0], parse_body(r.body), r.key),
            ),
            route("GET", "/refunds/{id}", "read", lambda r: (200, store.refund(r.ids[0]))),
            route("POST", "/refunds/{id}/reverse", "write", lambda r: store.reverse_refund(r.ids[0])),
            route(
                "POST",
                "/orders/{id}/cancel",
                "write",
                lambda r: store.cancel(r.ids[0], parse_body(r.body, optional=True), r.key),
            ),
            route("GET", "/cancellations/{id}", "read", lambda r: (200, store.cancellation(r.ids[0]))),
            route("POST", "/cancellations/{id}/undo", "write", lambda r: store.undo_cancellation(r.ids[0])),
            route("POST", "/admin/orders/{id}/ship", "admin", lambda r: store.ship(r.ids[0])),
            route("POST", "/admin/orders/{id}/payout", "admin", lambda r: store.payout(r.ids[0])),
            route("POST", "/admin/orders/{id}/age", "admin", lambda r: store.age(r.ids[0], parse_body(r.body))),
            route(
                "POST", "/admin/faults", "admin", lambda r: (200, {"armed": self.faults.arm(parse_body(r.body)).view()})
            ),
            route("GET", "/admin/log", "read", lambda r: (200, {"writes": store.writes()})),
        ]

    def _order(self, request: Request) -> Json:
        return self.store.order(
            request.ids[0],
            without_refund=request.query.get("without_refund"),
            without_cancellation=request.query.get("without_cancellation"),
        )


class ShopServer(ThreadingHTTPServer):
    """A threading HTTP server answering with a `ShopApp`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: ShopApp) -> None:
        """Bind `address` (port 0 picks a free port) and serve `app`."""
        self.app = app
        super().__init__(address, _ShopHandler)


class _ShopHandler(BaseHTTPRequestHandler):
    """Moves one HTTP/1.1 exchange between the socket and `ShopApp.handle`."""

    protocol_version = "HTTP/1.1"
    server: ShopServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        consumed = False
        length_header = self.headers.get("Content-Length", "0").strip() or "0"
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(_error(411, "chunked request bodies are not supported; send a Content-Length header"))
            return
        if not length_header.isdigit():
            self.close_connection = True
            self._send(_error(400, "Content-Length header must be a non-negative integer"))
            return
        length = int(length_header)

        def read_body() -> bytes | None:
            nonlocal consumed
            if length > MAX_BODY_BYTES:
                if length <= MAX_DRAINED_BYTES:  # read and drop it, so the client sees the 413, not a reset
                    self.rfile.read(length)
                    consumed = True
                return None
            consumed = True
            return self.rfile.read(length)

        try:
            response = self.server.app.handle(self.command, self.path, self.headers, read_body)
        except Exception as exc:  # a bug must still answer in JSON and keep the server up
            response = _error(500, f"internal error: {type(exc).__name__}: {exc}")
        if length and not consumed:
            self.close_connection = True
        self._send(response)

    def _send(self, response: Response) -> None:
        data = response.body.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"shop {self.address_string()} {format % args}\n")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(status: int, body: Json) -> Response:
    return Response(status, json.dumps(body))


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})
