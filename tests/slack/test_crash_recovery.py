"""A worker that dies between "posted" and "recorded" holds its row for one short lease, not
minutes: a real `leadbot jobs run outbox` process is killed with SIGKILL while Slack holds its
call open (the message already posted), and a second worker delivers without posting twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.workers.notifier import Notifier
from bot.workers.queue import LEASE
from core.models import Outbox, SlackMessage
from tests.slack.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
EMEA = "C0EMEA"
#: What "recovered within seconds" means here.
WITHIN_SECONDS = timedelta(seconds=30)


def outbox_row(bot, row_id):
    with bot.db.transaction() as s:
        row = s.get(Outbox, row_id)
        s.expunge(row)
        return row


def ours(bot, channel=EMEA):
    """The bot's messages in ``channel`` that name an outbox row."""
    return [m for m in bot.emulator.messages(channel) if m.get("metadata")]


def at(bot, moment):
    """The same bot, its clock standing at ``moment``: a second worker, later."""
    return Notifier(replace(bot.runtime, clock=lambda: moment), bot.slack_side.client)


def test_a_killed_worker_holds_its_row_one_lease_and_nothing_is_posted_twice(bot, db_url):
    bot.slack_side.worker.stop()  # only the subprocess delivers, until it is killed
    lead_id = bot.qualify("crash@acme.de")
    with bot.db.transaction() as s:
        [row_id] = s.scalars(select(Outbox.id).where(Outbox.kind == "lead_qualified")).all()
    # Slack posts the alert and then keeps the connection open: the worker is "mid-delivery".
    bot.emulator.fail_next("chat.postMessage", performed=True, timeout=True, hold_seconds=120)
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": db_url,
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
        "SLACK_BOT_TOKEN": bot.emulator.bot_token,
        "LEADBOT_SLACK_API_URL": bot.emulator.api_url,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot", "jobs", "run", "outbox"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bot.emulator.wait_for(lambda: ours(bot), 60), "the worker never posted"
        claimed_until = outbox_row(bot, row_id).next_attempt_at
        # While it lives, the worker renews its lease (a quarter lease after the claim).
        assert eventually(lambda: outbox_row(bot, row_id).next_attempt_at > claimed_until, 30), (
            "the lease was never renewed"
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    killed_at = bot.runtime.now()
    assert worker.returncode == -signal.SIGKILL

    row = outbox_row(bot, row_id)
    assert row.delivered_at is None and row.attempts == 1
    assert LEASE <= WITHIN_SECONDS
    assert row.next_attempt_at <= killed_at + WITHIN_SECONDS  # free again within one lease
    # Meanwhile the lead moves on: later messages about it queue up behind the orphan.
    bot.slack.click(ours(bot)[0], "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    assert at(bot, killed_at).drain().sent == 0  # not yet: the dead worker's lease still runs

    report = at(bot, row.next_attempt_at).drain()

    assert (report.sent, report.failed) == (3, 0)  # the alert, its update, marketing's note
    [alert] = ours(bot)
    assert alert["metadata"]["event_payload"]["outbox_id"] == row_id
    assert "accepted" in str(alert["blocks"]).lower()  # edited in place, not posted again
    posts = [c for c in bot.emulator.calls("chat.postMessage") if c.args["channel"] == EMEA]
    assert len(posts) == 1  # only the killed worker's post: the second one found it in history
    with bot.db.transaction() as s:
        recorded = [(m.purpose, m.ts) for m in s.scalars(select(SlackMessage))]
    # The alert once (every post about a lead is recorded, so marketing's note is there too).
    assert [ts for purpose, ts in recorded if purpose == "alert"] == [alert["ts"]]
    assert sorted(purpose for purpose, _ in recorded) == ["alert", "marketing_accepted"]


def test_a_slow_delivery_keeps_its_row_however_long_it_takes(bot):
    """The lease is short, but renewed: a live worker waiting on Slack is never overtaken."""
    bot.slack_side.worker.stop()
    bot.qualify("slow@acme.de")
    lease = timedelta(seconds=2)
    slow = Notifier(bot.runtime, bot.slack_side.client, lease=lease)
    bot.emulator.fail_next("chat.postMessage", performed=True, timeout=True, hold_seconds=10)
    reports = []
    delivering = threading.Thread(target=lambda: reports.append(slow.drain(max_rows=1)))
    delivering.start()
    try:
        assert bot.emulator.wait_for(lambda: ours(bot), 10)
        with bot.db.transaction() as s:
            row = s.scalars(select(Outbox)).one()
            first_lease, row_id = row.next_attempt_at, row.id
        assert eventually(lambda: outbox_row(bot, row_id).next_attempt_at > first_lease, 8)
        assert delivering.is_alive()  # renewed by the heartbeat, not moved on by a failure
        # Past the first lease, a second worker finds the row still taken.
        assert at(bot, first_lease + timedelta(milliseconds=1)).claim() is None
    finally:
        delivering.join(30)
    assert reports[0].failed == 1  # the held call ended without an answer
    with bot.db.transaction() as s:  # the back-off has passed
        s.get(Outbox, row_id).next_attempt_at = bot.runtime.now()
    assert bot.slack_side.notifier.drain().sent == 1
    assert len(ours(bot)) == 1
