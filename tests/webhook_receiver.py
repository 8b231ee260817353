"""A webhook receiver on loopback, as a CRM would run one: it verifies every request with the
``standardwebhooks`` package and records what arrived. It can be down (connection refused),
answer 500 or 410, or hang."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    message_id: str
    headers: dict[str, str]
    body: str
    verified: bool
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def lead_id(self) -> int | None:
        return self.payload["data"].get("id")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """``mode``: "ok" (204), "500", "410" or "hang" (hold each request ``hang_seconds``, or
    until ``release`` is set, then answer 500). Not listening until :meth:`start`."""

    def __init__(self, secret: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/leadbot"
        self.secret = secret
        self.mode = "ok"
        self.hang_seconds = 20.0
        self.release = threading.Event()
        self.holding = threading.Event()
        self.arrived = threading.Condition()
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None

    # --- control ----------------------------------------------------------------------------

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver._handle(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what arrived -----------------------------------------------------------------------

    def wait_for(self, condition: Any, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: condition(self), timeout)

    def acknowledged(self) -> list[Received]:
        """Requests answered with a 2xx, in the order they arrived."""
        with self.arrived:
            return [r for r in self.received if 200 <= r.status < 300]

    def ids(self) -> set[str]:
        return {r.message_id for r in self.acknowledged()}

    # --- the handler ------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: str) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        verified = True
        try:
            assert self.secret, "the receiver has no secret yet"
            Webhook(self.secret).verify(body, headers)
        except (WebhookVerificationError, AssertionError, ValueError):
            verified = False
        mode = self.mode
        status = {"ok": 204, "500": 500, "410": 410, "hang": 500}[mode] if verified else 400
        record = Received(headers.get("webhook-id", ""), headers, body, verified, status)
        if mode == "hang":
            record.status = 0  # never answered in time; the sender gave up
            with self.arrived:
                self.received.append(record)
                self.arrived.notify_all()
            self.holding.set()
            self.release.wait(self.hang_seconds)
            self._answer(handler, 500)
            return
        with self.arrived:
            self.received.append(record)
            self.arrived.notify_all()
        self._answer(handler, status)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "2" if status != 204 else "0")
            handler.end_headers()
            if status != 204:
                handler.wfile.write(b"no")
        except OSError:  # the sender hung up first
            pass
