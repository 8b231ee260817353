"""Reminders, escalations, Snooze and the digest through the real app and the emulator, on both
engines. The bot's clock is moved by hand; each job runs as the scheduler would run it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import select

from bot.workers.scheduler import run_digest, run_reminders
from core.models import Lead, Outbox
from core.services import reminders
from emulators.slack.blockkit import validate_blocks
from tests.factories import accept
from tests.slack.conftest import eventually

BERLIN = ZoneInfo("Europe/Berlin")
EMEA, MKTG = "C0EMEA", "C0MKTG"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def at(bot, when):
    bot.runtime.clock = Clock(when)


def texts(message):
    return " ".join(str(block) for block in message.get("blocks", []))


def settled(bot):
    """Everything queued so far was delivered (the outbox worker runs in the background)."""

    def empty():
        with bot.db.transaction() as s:
            return s.scalars(select(Outbox.id).where(Outbox.delivered_at.is_(None))).first() is None

    assert eventually(empty, 10), "the outbox did not drain"


def thread_replies(bot, alert):
    return [
        m for m in bot.emulator.replies(alert["channel"], alert["ts"]) if m["ts"] != alert["ts"]
    ]


def dms(bot, user):
    return bot.emulator.messages(bot.emulator.dm_channel(user))


def job(bot, run=run_reminders):
    result = run(bot.runtime)
    settled(bot)
    return result


def test_friday_evening_lead_is_reminded_in_the_alert_thread_on_monday_noon(bot):
    at(bot, berlin(2026, 11, 20, 17, 0))
    lead_id = bot.qualify("friday@acme.de")
    alert = bot.alert(lead_id)
    assert alert["channel"] == EMEA
    for when in (berlin(2026, 11, 20, 21, 0), berlin(2026, 11, 23, 11, 59)):
        at(bot, when)
        assert job(bot) == "reminders: queued 0"
    assert thread_replies(bot, alert) == []
    at(bot, berlin(2026, 11, 23, 12, 0))
    assert job(bot) == "reminders: queued 1"
    assert job(bot) == "reminders: queued 0"
    [reply] = thread_replies(bot, alert)
    assert "<@U0REP1> <@U0REP2>" in texts(reply)
    assert "4 business hours" in texts(reply) and "Fri 20 Nov 17:00 Europe/Berlin" in texts(reply)
    assert validate_blocks(reply["blocks"]) == []
    assert dms(bot, "U0MGR1") == []  # the escalation is not due yet


def test_escalation_reaches_the_managers_who_can_accept_from_the_dm(bot):
    at(bot, berlin(2026, 11, 23, 9, 0))
    lead_id = bot.qualify("escalate@acme.de")
    alert = bot.alert(lead_id)
    at(bot, berlin(2026, 11, 23, 17, 0))  # 8 business hours later: both levels at once
    assert job(bot) == "reminders: queued 2"
    [escalation] = dms(bot, "U0MGR1")
    assert "Escalation" in texts(escalation) and "8 business hours" in texts(escalation)
    buttons = [
        e["action_id"]
        for b in escalation["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["lead_accept", "lead_assign"]
    assert dms(bot, "U0MGR2") == []  # another team's manager
    assert len(thread_replies(bot, alert)) == 1
    bot.slack.click(escalation, "Accept", user="U0MGR1")
    bot.wait_stage(lead_id, "sal")
    assert eventually(lambda: "Accepted by <@U0MGR1>" in texts(bot.emulator.message(alert["ts"])))
    at(bot, berlin(2026, 11, 24, 17, 0))
    assert job(bot) == "reminders: queued 0"


def test_an_accepted_lead_gets_no_mql_reminder(bot):
    at(bot, berlin(2026, 11, 20, 17, 0))
    lead_id = bot.qualify("taken@acme.de")
    alert = bot.alert(lead_id)
    at(bot, berlin(2026, 11, 20, 17, 10))
    bot.slack.click(alert, "Accept", user="U0REP2")
    bot.wait_stage(lead_id, "sal")
    for when in (berlin(2026, 11, 23, 12), berlin(2026, 11, 23, 16), berlin(2026, 11, 24, 9)):
        at(bot, when)
        assert job(bot) == "reminders: queued 0"
    assert thread_replies(bot, alert) == [] and dms(bot, "U0MGR1") == []


def test_owner_is_reminded_and_snooze_postpones_by_a_business_day(bot):
    at(bot, berlin(2026, 11, 23, 9, 0))
    lead_id = bot.qualify("slow@acme.de")
    alert = bot.alert(lead_id)
    at(bot, berlin(2026, 11, 23, 9, 30))
    bot.slack.click(alert, "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    at(bot, berlin(2026, 11, 26, 9, 29))  # sal_qualify = 3d: Thu 09:30
    assert job(bot) == "reminders: queued 0"
    at(bot, berlin(2026, 11, 26, 9, 30))
    assert job(bot) == "reminders: queued 1"
    [reminder] = dms(bot, "U0REP1")
    assert "has been your SAL for 3 business days" in texts(reminder)
    assert validate_blocks(reminder["blocks"]) == []
    for label in ("Qualify", "Snooze 1 day", "Nurture"):
        assert label in texts(reminder)

    bot.slack.click(reminder, "Snooze 1 day", user="U0REP2")  # not the owner: refused
    assert eventually(lambda: bot.emulator.ephemerals(user="U0REP2"))
    assert "owner or a manager" in bot.emulator.ephemerals(user="U0REP2")[-1].text
    at(bot, berlin(2026, 11, 26, 10, 0))
    bot.slack.click(reminder, "Snooze 1 day", user="U0REP1")
    assert eventually(lambda: bot.emulator.ephemerals(user="U0REP1"))
    assert "Fri 27 Nov 10:00 Europe/Berlin" in bot.emulator.ephemerals(user="U0REP1")[-1].text

    at(bot, berlin(2026, 11, 27, 9, 59))
    assert job(bot) == "reminders: queued 0"
    at(bot, berlin(2026, 11, 27, 10, 0))
    assert job(bot) == "reminders: queued 1"
    again = dms(bot, "U0REP1")[-1]
    assert "Snoozed reminder" in texts(again)
    at(bot, berlin(2026, 11, 30, 10, 0))
    assert job(bot) == "reminders: queued 0"
    assert len(dms(bot, "U0REP1")) == 2


def test_a_reminder_for_a_lead_that_moved_on_is_not_posted(bot):
    at(bot, berlin(2026, 11, 23, 9, 0))
    lead_id = bot.qualify("moved@acme.de")
    alert = bot.alert(lead_id)
    now = berlin(2026, 11, 23, 13, 0)
    at(bot, now)
    with bot.db.transaction() as s:
        assert len(reminders.send_reminders(s, bot.config, now)) == 1
        lead = s.get(Lead, lead_id)
        accept(s, lead, "U0REP1", now)
    bot.runtime.outbox_changed()
    settled(bot)
    assert thread_replies(bot, alert) == []


def test_daily_digest_with_its_chart_through_the_upload_flow(bot):
    at(bot, datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    first = bot.qualify("digest1@acme.de")
    bot.qualify("digest2@acme.de", country="US")
    bot.alert(first)
    at(bot, datetime(2026, 11, 22, 10, 30, tzinfo=UTC))
    bot.slack.click(bot.alert(first), "Accept", user="U0REP1")
    bot.wait_stage(first, "sal")
    settled(bot)
    before = len(bot.emulator.messages(MKTG))

    at(bot, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert job(bot, run_digest) == "digest: queued for 2026-11-22"
    assert job(bot, run_digest) == "digest: already queued for 2026-11-22"
    posted = bot.emulator.messages(MKTG)[before:]
    assert len(posted) == 2  # the digest, then its chart
    digest, chart = posted
    shown = texts(digest)
    assert "Lead handoff, Sun 22 Nov 2026" in shown
    assert "*New MQLs* 2" in shown and "*Accepted* 1" in shown
    assert "*Median time to accept* 30 min" in shown
    assert validate_blocks(digest["blocks"]) == []

    [get_url] = bot.emulator.calls("files.getUploadURLExternal")
    [complete] = bot.emulator.calls("files.completeUploadExternal")
    assert get_url.args["filename"] == "leadbot-funnel-2026-11-22.png"
    assert complete.args.get("channel_id") == MKTG
    [shared] = chart["files"]
    content = bot.emulator.file_content(shared["id"])
    assert content is not None and content.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(content))
    image.verify()
    assert image.format == "PNG" and image.size[0] > 300


def test_a_failed_chart_upload_is_retried_without_posting_the_digest_twice(bot):
    at(bot, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    bot.emulator.fail_next("files.completeUploadExternal", status=200, error="fatal_error")
    run_digest(bot.runtime)
    assert eventually(lambda: bot.emulator.calls("files.completeUploadExternal"), 10)
    assert eventually(lambda: bot.emulator.messages(MKTG))

    def failure_recorded():
        with bot.db.transaction() as s:
            return s.scalars(select(Outbox.last_error).where(Outbox.delivered_at.is_(None))).first()

    # Move the clock only once the worker has recorded the failure and scheduled the retry;
    # moving it earlier would push the retry's back-off past the new "now".
    assert eventually(failure_recorded, 10)
    at(bot, datetime(2026, 11, 23, 8, 5, tzinfo=UTC))  # past the retry's back-off
    bot.runtime.outbox_changed()
    settled(bot)
    digest, chart = bot.emulator.messages(MKTG)
    assert "Lead handoff" in texts(digest) and chart["files"][0]["name"].endswith(".png")
    assert len(bot.emulator.calls("files.completeUploadExternal")) == 2
    assert len(bot.emulator.calls("chat.postMessage")) == 1
