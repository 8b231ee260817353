"""The HTTP side of the emulator: a stdlib threaded server on a loopback port.

Routes: ``/api/<method>`` (Web API), ``/upload/v1/<file_id>`` (upload URLs handed out by
files.getUploadURLExternal) and ``/response/<hook>`` (response_url). Any other path goes to
the optional ``pages`` handler (the sandbox's web page), else 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulators.slack.params import BadRequest, bearer_token, parse_multipart, read_arguments
from emulators.slack.response_urls import apply_response
from emulators.slack.webapi import ApiResult, WebApi

#: ``(method, path, query, body) -> (status, content_type, body)``, or None for "not mine".
PageHandler = Callable[[str, str, str, bytes], tuple[int, str, bytes] | None]


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], api: WebApi, pages: PageHandler | None = None
    ) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.pages = pages
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every call is recorded by the emulator instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        if path.startswith("/api/"):
            self._api(path.removeprefix("/api/"), query, body, content_type)
        elif path.startswith("/upload/v1/"):
            self._upload(path.removeprefix("/upload/v1/"), body, content_type)
        elif path.startswith("/response/"):
            self._response_url(path.removeprefix("/response/"), body)
        else:
            self._page(path, query, body)

    def _page(self, path: str, query: str, body: bytes) -> None:
        pages = self.server.pages
        answer = pages(self.command, path, query, body) if pages is not None else None
        if answer is None:
            self._send(404, {"ok": False, "error": "not_found"})
            return
        status, content_type, raw = answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(raw)

    def _api(self, method: str, query: str, body: bytes, content_type: str) -> None:
        api = self.server.api
        try:
            args = read_arguments(query, body, content_type)
        except BadRequest as exc:
            result = ApiResult(200, {"ok": False, "error": exc.error})
            api.record(method, {}, result)
            self._send(result.status, result.body, result.headers)
            return
        token = bearer_token(self.headers.get("Authorization")) or args.pop("token", None)
        args.pop("token", None)
        result = api.call(method, args, token)
        if result.hold_seconds is not None:
            self.server.stopping.wait(result.hold_seconds)
            self.close_connection = True
            return
        self._send(result.status, result.body, result.headers)

    def _upload(self, file_id: str, body: bytes, content_type: str) -> None:
        if content_type.lower().startswith("multipart/form-data"):
            try:
                fields = parse_multipart(body, content_type)
            except BadRequest:
                self._send(400, {"ok": False, "error": "invalid_form_data"})
                return
            parts = [v for v in fields.values() if isinstance(v, bytes)]
            body = parts[0] if parts else b""
        api = self.server.api
        with api.changed:
            stored = api.ws.files.get(file_id)
            if stored is not None:
                stored.content = body
                api.changed.notify_all()
        if stored is None:
            self._send(404, {"ok": False, "error": "file_not_found"})
        else:
            self._send_text(200, f"OK - {len(body)}")

    def _response_url(self, hook_id: str, body: bytes) -> None:
        api = self.server.api
        try:
            payload: Any = json.loads(body or b"null")
        except ValueError:
            payload = None
        with api.changed:
            status, answer = apply_response(api.ws, hook_id, payload)
            args = payload if isinstance(payload, dict) else {}
            api.record("response_url", {"url_id": hook_id, **args}, ApiResult(status, answer))
        self._send(status, answer)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _send_text(self, status: int, text: str) -> None:
        raw = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
