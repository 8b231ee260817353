"""build_app(runtime, client) -> a Bolt App with every listener registered. No module-level App:
the listeners are module-level functions (bot/handlers) and find the runtime in Bolt's context,
put there by the one global middleware (bot/slack/middleware.py)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import handlers
from bot.runtime import Runtime
from bot.slack.middleware import provide_runtime

log = logging.getLogger(__name__)

#: Threads that run listeners. Bolt answers Slack only once a listener has called ``ack()``,
#: and a listener gets a thread only when one is free: with Bolt's default of 5, a burst of
#: clicks whose listeners wait on the database queues the next clicks' acks behind that work,
#: past Slack's 3 seconds. Buttons and events ack first; a command's reply and a form's inline
#: errors ride on the ack, after one short transaction. With enough threads an ack never waits
#: for other clicks' work; the work itself still queues at the database.
LISTENER_THREADS = 64


def build_app(
    runtime: Runtime,
    client: WebClient,
    *,
    verify_token: bool = True,
    finish_before_reply: bool = False,
) -> App:
    """The Slack side of leadbot. Bolt's sync App acknowledges as soon as a listener calls
    ``ack()`` and finishes the listener in its own worker thread; with ``finish_before_reply``
    (in-process tests) ``dispatch`` returns only once the listener has finished."""
    app = App(
        client=client,
        signing_secret=runtime.settings.slack_signing_secret,
        token_verification_enabled=verify_token,
        # Socket Mode needs no signing secret, HTTP mode always checks it.
        request_verification_enabled=runtime.settings.slack_signing_secret is not None,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="leadbot-slack"),
        process_before_response=finish_before_reply,
    )
    app.use(provide_runtime(runtime))
    handlers.register(app)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error(
            "Slack listener failed: %s (request type %s)", error, body.get("type"), exc_info=error
        )

    return app
