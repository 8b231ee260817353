"""``POST /slack/events``: Slack's requests into the Bolt app, served by the FastAPI server.

In order, each step before anything reads further: the signature on the raw bytes (401 and one
log line when it is missing, wrong or stale, whatever the body holds), the body parsed (400 when
it is not something Slack could have sent), its shape screened (bot/slack/payloads.py: 200 and
nothing more for requests the bot has no use for, 200 and one log line for a malformed one), and
only then Bolt, in a worker thread so a slow listener never blocks the event loop.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import fastapi
import slack_bolt
from slack_bolt.request import BoltRequest
from starlette.concurrency import run_in_threadpool

from bot.slack import payloads

log = logging.getLogger(__name__)

#: Slack's own limit: a request signed more than five minutes ago is a replay.
MAX_SIGNATURE_AGE = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def signed_by_slack(
    secret: str | None, body: bytes, timestamp: str | None, signature: str | None
) -> str | None:
    """None when Slack signed ``body`` (HMAC-SHA256 of ``v0:<timestamp>:<raw bytes>``) in the
    last five minutes, else why not. Reads nothing but the raw bytes and two headers, so junk
    is refused before anything tries to parse it."""
    if not secret:
        return "no signing secret is configured (SLACK_SIGNING_SECRET)"
    if timestamp is None or signature is None:
        return "unsigned (no X-Slack-Request-Timestamp or X-Slack-Signature)"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE:
        return "stale timestamp"
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, "sha256")
    if not hmac.compare_digest(f"v0={expected.hexdigest()}".encode(), signature.encode()):
        return "bad signature"
    return None


def storable(value: Any) -> Any:
    """``value`` with NUL characters removed and lone surrogates replaced at any depth. Slack
    passes on whatever a person typed; neither can be stored (PostgreSQL refuses NUL, nothing
    encodes a surrogate) and neither means anything in a command or a form."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def mount_slack(
    app: fastapi.FastAPI,
    bolt_app: slack_bolt.App,
    *,
    signing_secret: str | None,
    path: str = "/slack/events",
    screen: payloads.Screen = payloads.screen,
) -> None:
    """Route Slack's requests at ``path`` to ``bolt_app``.

    The signature is checked here on the raw bytes first (401 and one log line when it is
    missing, wrong or stale, whatever the body holds); only then is the body decoded and parsed
    (400 when Slack's own request cannot be read). Bolt checks the signature again. The sync
    ``App.dispatch`` runs in a worker thread so a slow listener never blocks the event loop.
    """

    async def slack_events(request: fastapi.Request) -> fastapi.Response:
        raw = await request.body()
        refused = signed_by_slack(
            signing_secret,
            raw,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
        )
        if refused:
            client = request.client.host if request.client else "unknown"
            log.warning("refused a request to %s from %s: %s", path, client, refused)
            return fastapi.Response(
                '{"error": "invalid request"}', status_code=401, media_type="application/json"
            )
        try:
            parsed = payloads.parse(raw, request.headers.get("content-type"))
        except payloads.Unreadable as exc:
            log.warning("refused a signed request to %s: unreadable body (%s)", path, exc)
            return fastapi.Response(
                '{"error": "unreadable body"}', status_code=400, media_type="application/json"
            )
        verdict, why = screen(parsed)
        if verdict is payloads.Verdict.MALFORMED:
            log.warning("ignored a signed request to %s that Slack does not send: %s", path, why)
        if verdict is not payloads.Verdict.PASS:
            return fastapi.Response(status_code=200)
        headers: dict[str, str | Sequence[str]] = {
            name: request.headers.getlist(name) for name in request.headers
        }
        bolt_request = BoltRequest(
            body=raw.decode("utf-8"), query=request.url.query, headers=headers
        )
        bolt_request.body = storable(bolt_request.body)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        response = fastapi.Response(content=bolt_response.body, status_code=bolt_response.status)
        for name, values in bolt_response.headers.items():
            if name.lower() == "content-length":
                continue
            for value in values:
                response.headers.append(name, value)
        return response

    app.add_api_route(path, slack_events, methods=["POST"], include_in_schema=False)
