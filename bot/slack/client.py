"""The Slack Web API client leadbot calls Slack with: 429s waited out, 5xx retried only where
repeating cannot double anything."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

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
