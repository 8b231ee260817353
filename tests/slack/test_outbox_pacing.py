"""Slack's rate limits as the notifier meets them: the emulator enforces chat.postMessage's
per-channel limit (429 with Retry-After), the real notifier drains the real outbox. A refusal for
one channel holds back only that channel; nothing is lost or posted twice; a queued row goes out
when its commit wakes the worker, not at the next poll."""

from __future__ import annotations

from sqlalchemy import select

from bot.workers.notifier import notifier_worker
from core.messages import AlertRefresh, enqueue
from core.models import Outbox, SlackMessage
from tests.slack.conftest import eventually

EMEA, NA = "C0EMEA", "C0NA"


def limit_posts(bot, per_second: float) -> None:
    """One message per channel, then ``per_second``: Retry-After is 1 / per_second seconds."""
    limits = bot.emulator.rate_limits
    limits.enabled = True
    limits.post_message_burst = 1
    limits.post_message_per_second = per_second


def alerts(bot):
    """(channel, lead id, status) of every chat.postMessage the bot made with an outbox row."""
    return [
        (c.args["channel"], c.args["metadata"]["event_payload"]["lead_id"], c.status)
        for c in bot.emulator.calls("chat.postMessage")
        if c.args.get("metadata")
    ]


def unsent(bot) -> int:
    with bot.db.transaction() as s:
        return len(s.scalars(select(Outbox.id).where(Outbox.delivered_at.is_(None))).all())


def test_a_429_in_one_channel_holds_back_only_that_channel(bot):
    bot.slack_side.worker.stop()  # queue all three first, then drain by hand
    limit_posts(bot, per_second=1.0)
    first = bot.qualify("first@acme.de", country="DE")
    second = bot.qualify("second@acme.de", country="DE")
    other = bot.qualify("other@acme.com", country="US")

    report = bot.slack_side.notifier.drain()

    assert (report.failed, unsent(bot)) == (0, 0)
    # The second EMEA alert is refused and waits for EMEA; the NA alert, queued after it, goes
    # at once instead of waiting behind it.
    assert alerts(bot) == [
        (EMEA, first, 200),
        (EMEA, second, 429),
        (NA, other, 200),
        (EMEA, second, 200),
    ]


def test_a_leads_next_row_follows_its_rate_limited_alert_in_the_same_drain(bot):
    bot.slack_side.worker.stop()
    limit_posts(bot, per_second=1.0)
    bot.qualify("first@acme.de", country="DE")
    second = bot.qualify("second@acme.de", country="DE")
    with bot.db.transaction() as s:  # queued behind the alert it edits
        enqueue(s, AlertRefresh(second), now=bot.runtime.now())

    report = bot.slack_side.notifier.drain()

    assert (report.sent, report.failed, unsent(bot)) == (3, 0, 0)
    [edit] = bot.emulator.calls("chat.update")
    assert edit.ok and edit.args["ts"] == bot.alert(second)["ts"]
    assert alerts(bot)[-1] == (EMEA, second, 200)


def test_every_alert_once_under_rate_limits_and_half_failures(bot):
    bot.slack_side.worker.stop()
    limit_posts(bot, per_second=4.0)
    # Posted, yet answered 500: the retry must find the message instead of posting it again.
    bot.emulator.fail_next("chat.postMessage", times=3, status=500, performed=True)
    ids = [bot.qualify(f"lead{i}@acme.de", country="DE" if i % 2 else "US") for i in range(12)]

    bot.drain_all()

    statuses = [status for _, _, status in alerts(bot)]
    assert statuses.count(429) >= 1 and statuses.count(500) == 3
    in_channels = [
        m["metadata"]["event_payload"]["lead_id"]
        for channel in (EMEA, NA)
        for m in bot.emulator.messages(channel)
        if m.get("metadata")
    ]
    assert sorted(in_channels) == sorted(ids)  # each alert in its channel exactly once
    with bot.db.transaction() as s:
        assert sorted(s.scalars(select(SlackMessage.lead_id))) == sorted(ids)
    assert unsent(bot) == 0


def test_a_queued_alert_goes_out_on_its_commit_not_at_the_next_poll(bot):
    bot.slack_side.worker.stop()
    worker = notifier_worker(bot.slack_side.notifier, interval=3600)  # the poll never comes
    bot.runtime.outbox_listeners.append(worker.wake)
    worker.start()
    try:
        lead_id = bot.qualify("prompt@acme.de")
        assert bot.emulator.wait_for(lambda: alerts(bot), 60)
        assert alerts(bot) == [(EMEA, lead_id, 200)]
    finally:
        worker.stop()


def test_a_worker_waiting_out_a_channel_still_sends_new_rows_for_others(bot):
    bot.slack_side.worker.stop()
    limit_posts(bot, per_second=0.02)  # a refused EMEA post may go again after 50 s
    worker = notifier_worker(bot.slack_side.notifier, interval=3600)
    bot.runtime.outbox_listeners.append(worker.wake)
    worker.start()
    try:
        bot.qualify("first@acme.de", country="DE")
        waiting = bot.qualify("second@acme.de", country="DE")
        assert bot.emulator.wait_for(lambda: (EMEA, waiting, 429) in alerts(bot), 60)
        other = bot.qualify("other@acme.com", country="US")  # its commit wakes the worker
        assert bot.emulator.wait_for(lambda: (NA, other, 200) in alerts(bot), 60)
        assert (EMEA, waiting, 200) not in alerts(bot)  # still waiting for EMEA
    finally:
        worker.stop()
    # Stopped while it waited: the row went back to the queue untried, for the next worker.
    with bot.db.transaction() as s:
        row = s.scalars(select(Outbox).where(Outbox.lead_id == waiting)).one()
        assert (row.delivered_at, row.attempts) == (None, 0)
    assert eventually(lambda: unsent(bot) == 1)
