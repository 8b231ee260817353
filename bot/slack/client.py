"""Serving a Bolt app from the project's FastAPI server, and building its Web API client."""

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
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from starlette.concurrency import run_in_threadpool

SLACK_API_URL = "https://slack.com/api/"

#: Methods that may be sent again after a 500 or 503 without harm: reads, and writes that set a
#: known object to a given state. Slack sometimes carries a call out and still answers 5xx, so
#: a post, an ephemeral, a file share or a views.open is never repeated blindly: the notifier
#: looks for its message in the channel first (bot/outbox/slack.py); a person can click again.
REPEATABLE_METHODS = frozenset(
    {
        "auth.test",
        "chat.getPermalink",
        "chat.update",
        "conversations.history",
        "conversations.info",
        "conversations.open",
        "conversations.replies",
        "files.getUploadURLExternal",
        "users.info",
        "users.lookupByEmail",
        "users.profile.get",
        "views.publish",
        "views.update",
    }
)


def api_method(url: str) -> str:
    """``chat.postMessage`` for ``https://slack.com/api/chat.postMessage?x=y``."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class RepeatableServerErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's 500/503 retry, for the methods in ``REPEATABLE_METHODS`` only."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return api_method(request.url) in REPEATABLE_METHODS and super()._can_retry(
            state=state, request=request, response=response, error=error
        )


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
        headers: dict[str, str | Sequence[str]] = {
            name: request.headers.getlist(name) for name in request.headers
        }
        try:
            bolt_request = BoltRequest(
                body=raw.decode("utf-8"), query=request.url.query, headers=headers
            )
        except ValueError as exc:  # undecodable bytes or a payload that is not JSON
            log.warning("refused a signed request to %s: unreadable body (%s)", path, exc)
            return fastapi.Response(
                '{"error": "unreadable body"}', status_code=400, media_type="application/json"
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


def build_web_client(
    token: str,
    base_url: str = SLACK_API_URL,
    *,
    timeout: int = 30,
    rate_limit_retries: int = 2,
    server_error_retries: int = 2,
) -> WebClient:
    """A WebClient for Bolt and the notifier. It waits out 429s (honouring Retry-After; Slack
    did nothing) for every method, and retries 500/503 only for methods safe to repeat. No
    retry after a timeout or a dropped connection: the call may have been carried out."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            RepeatableServerErrorRetryHandler(max_retry_count=server_error_retries),
        ],
    )
