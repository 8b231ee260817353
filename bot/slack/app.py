"""build_app(runtime, client) -> a Bolt App with every listener registered. No module-level App."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.handlers import actions, commands, home, reminders, views
from bot.runtime import Runtime

log = logging.getLogger(__name__)

#: Threads that run listeners. Bolt answers Slack only once a listener has called ``ack()``,
#: and a listener gets a thread only when one is free: with Bolt's default of 5, a burst of
#: clicks whose listeners wait on the database queues the next clicks' acks behind that work,
#: past Slack's 3 seconds. Every listener here acks first, so with enough threads an ack never
#: waits for other clicks' work; the work itself still queues at the database.
LISTENER_THREADS = 64


def build_app(runtime: Runtime, client: WebClient, *, verify_token: bool = True) -> App:
    """The Slack side of leadbot. Bolt's sync App acknowledges as soon as a listener calls
    ``ack()`` and finishes the listener in its own worker thread."""
    app = App(
        client=client,
        signing_secret=runtime.settings.slack_signing_secret,
        token_verification_enabled=verify_token,
        # Socket Mode needs no signing secret, HTTP mode always checks it.
        request_verification_enabled=runtime.settings.slack_signing_secret is not None,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="leadbot-slack"),
    )
    actions.register(app, runtime)
    actions.register_lead_buttons(app, runtime)
    views.register(app, runtime)
    views.register_lead_forms(app, runtime)
    commands.register(app, runtime)
    home.register(app, runtime)
    reminders.register(app, runtime)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error(
            "Slack listener failed: %s (request type %s)", error, body.get("type"), exc_info=error
        )

    return app
