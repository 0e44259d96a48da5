"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and a webhook receiver (http.server),
each on a free loopback port, each stopped by the test that started it."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cxgov.notify import Event, Notice, Notifier

PUBLIC_URL = "https://cxgov.example.com"
NotifierMaker = Callable[..., Notifier]
"""`make_notifier(routes, **options)`: a Notifier on the test's database."""
ACTION_ID = "action-7d1c0e9a-5b7f-4c1e-9a43-2f1d7c0b8e11"


def notice(**fields: Any) -> Notice:
    """An approval-requested notice for ACTION_ID; keywords override."""
    values: dict[str, Any] = {
        "key": f"{ACTION_ID}:approval_requested:1",
        "event": Event.APPROVAL_REQUESTED,
        "subject": "Approval needed: support-bot refund 120 USD for C-100",
        "body": "support-bot asks to refund 120.00 USD on order O-1 for C-100.\nDecide before 2026-01-01 10:00 UTC.",
        "action_id": ACTION_ID,
        "people": ["maria"],
    }
    values.update(fields)
    return Notice(**values)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the mail has no text/plain part"
        return str(part.get_content())  # type: ignore[attr-defined]


class Mailbox:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps every mail it accepts.

    With `login`, it offers AUTH (without TLS, on loopback) and refuses mail from anyone who did not log in
    with exactly that user and password.
    """

    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.mails: list[Mail] = []
        self.logins: list[str] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if login is not None and not session.authenticated:
                    return "530 Authentication required"
                message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                mailbox.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            assert login is not None
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            if ok:
                mailbox.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        options: dict[str, Any] = {}
        if login is not None:
            # AUTH offered without TLS (loopback only); mail without a login is refused in handle_DATA.
            options = {"authenticator": authenticate, "auth_require_tls": False}
        last: Exception | None = None
        for _ in range(5):  # the port is free when picked; another process could take it before we bind
            self.port = free_port()
            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)
            try:
                self.controller.start()
                return
            except Exception as err:
                last = err
        raise RuntimeError(f"no SMTP server could start: {last}")

    def stop(self) -> None:
        self.controller.stop()

    def url(self, to: str, **params: str) -> str:
        """A mailto:// URL delivering to `to` through this server (user and password as given by the caller)."""
        query = "&".join([f"to={to}", "from=cxgov@example.com", *(f"{k}={v}" for k, v in params.items())])
        return f"mailto://127.0.0.1:{self.port}?{query}"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    """The status the receiver answered."""

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class Hook:
    """A real webhook receiver on a free loopback port: keeps every request, answers `status` after `delay`."""

    status: int = 200
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = hook.status
                hook.requests.append(Request("POST", self.path, dict(self.headers), body, status))
                if hook.delay:
                    time.sleep(hook.delay)
                reply = b'{"ok": true}' if status < 400 else b'{"error": "boom"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, scheme: str = "json", path: str = "/cxgov") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
