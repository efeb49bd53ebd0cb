"""Real receivers for notifications, started by the tests on loopback: an HTTP server that checks the
signature of every generic webhook (with its own HMAC code, not previewd's), a Slack-shaped one, and
an SMTP server (aiosmtpd) that keeps the emails it is sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # When it arrived (time.time()), to compare with the event's own timestamp.
    at: float = field(default_factory=time.time)

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class HttpReceiver:
    """Answers `status` to every POST and keeps what it was sent. `secret`: every request must carry
    a good X-Previewd-Signature-256 (a bad one is kept in `bad_signatures`). `slack`: the body must be
    Slack's incoming-webhook shape, {"text": "..."}."""

    port: int
    secret: str = ""
    slack: bool = False
    status: int = 200
    received: list[Received] = field(default_factory=list)
    bad_signatures: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                receiver.check(got)
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status == 200 else b"gone: secret receiver text")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.allow_reuse_address = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def check(self, got: Received) -> None:
        if self.slack:
            body = got.json()
            assert set(body) == {"text"} and isinstance(body["text"], str), body
            assert got.headers["content-type"] == "application/json"
        if self.secret:
            expected = "sha256=" + hmac.new(self.secret.encode(), got.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, got.headers.get("x-previewd-signature-256", "")):
                self.bad_signatures.append(got)
                return
        self.received.append(got)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


class _Keeper:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> SmtpReceiver:
        self._controller = Controller(_Keeper(self.messages), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
