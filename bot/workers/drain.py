"""One drain of everything due, for `leadbot jobs run` and the tests."""

from __future__ import annotations

import threading

from bot.runtime import Runtime
from bot.workers.notifier import DrainReport, Notifier
from bot.workers.webhooks import Dispatcher, WebhookReport


def drain_both(runtime: Runtime, notifier: Notifier) -> tuple[DrainReport, WebhookReport]:
    """The Slack outbox and the webhook deliveries at once, each in its own threads, so a
    receiver that hangs does not hold up Slack; then the Slack messages that webhook delivery
    queued meanwhile (an endpoint disabled: marketing is told)."""
    dispatcher = Dispatcher(runtime)
    hooks: list[WebhookReport] = []
    failed: list[Exception] = []

    def deliver() -> None:
        try:
            hooks.append(dispatcher.drain())
        except Exception as exc:  # raised again below, where the command reports it in one line
            failed.append(exc)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    try:
        report = notifier.drain()
        thread.join()
    finally:
        dispatcher.close()
    if failed:
        raise failed[0]
    if hooks and hooks[0].failed:
        more = notifier.drain()
        report.sent += more.sent
        report.failed += more.failed
        report.errors += more.errors
    if not hooks:
        return report, WebhookReport(failed=1, errors=["webhook delivery stopped (see the log)"])
    return report, hooks[0]
