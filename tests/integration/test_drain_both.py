"""`jobs run outbox` drains Slack and webhooks at once: a failure in the webhook thread reaches
the command (which reports it in one line), instead of dying in the thread as a traceback."""

import threading

import pytest
from sqlalchemy.exc import OperationalError

from bot.workers import drain
from bot.workers.notifier import DrainReport
from bot.workers.webhooks import Dispatcher


class SlackSide:
    def __init__(self):
        self.drained = 0

    def drain(self):
        self.drained += 1
        return DrainReport(sent=2)


def test_a_database_error_in_the_webhook_thread_reaches_the_caller(runtime, monkeypatch):
    def broken(self, threads=4):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Dispatcher, "drain", broken)
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args))
    slack = SlackSide()
    with pytest.raises(OperationalError, match="server closed the connection"):
        drain.drain_both(runtime, slack)
    assert slack.drained == 1 and seen == []  # Slack was drained; no thread traceback


def test_both_sides_report(runtime):
    report, hooks = drain.drain_both(runtime, SlackSide())
    assert (report.sent, hooks.delivered, hooks.failed) == (2, 0, 0)
