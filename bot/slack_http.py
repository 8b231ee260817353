"""Serving a Bolt app from the project's FastAPI server, and building its Web API client."""

from __future__ import annotations

from collections.abc import Sequence

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
#: looks for its message in the channel first (see bot/notifier.py), and a person can click again.
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


def mount_slack(
    app: fastapi.FastAPI, bolt_app: slack_bolt.App, path: str = "/slack/events"
) -> None:
    """Route Slack's requests at ``path`` to ``bolt_app``.

    Bolt checks the signature and timestamp itself (401 when either is wrong). The sync
    ``App.dispatch`` runs in a worker thread so a slow listener never blocks the event loop.
    """

    async def slack_events(request: fastapi.Request) -> fastapi.Response:
        body = (await request.body()).decode("utf-8")
        headers: dict[str, str | Sequence[str]] = {
            name: request.headers.getlist(name) for name in request.headers
        }
        bolt_request = BoltRequest(body=body, query=request.url.query, headers=headers)
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
