"""Slack's half-failures: the call was carried out, the answer says 500 or 503. Nothing may be
posted twice because of it; calls that are safe to repeat are still retried."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.slack.client import api_method, build_web_client
from core.models import Outbox, SlackMessage
from emulators.slack import SlackEmulator

EMEA, NA = "C0EMEA", "C0NA"


@pytest.fixture
def emu(slack_emulator: SlackEmulator) -> SlackEmulator:
    slack_emulator.add_user("U0REP1", name="rep1")
    slack_emulator.add_channel("C0EMEA", name="emea", members=["U0REP1"])
    return slack_emulator


def test_the_emulator_can_carry_out_a_call_and_still_answer_500(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", status=500, performed=True)
    emu.fail_next("chat.postMessage", status=503, performed=True)
    client = WebClient(base_url=emu.api_url, token=emu.bot_token, retry_handlers=[])

    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(channel="C0EMEA", text="half")
        assert info.value.response["error"] == "internal_error"

    assert [c.status for c in emu.calls("chat.postMessage")] == [500, 503]
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["half", "half"]


def test_the_bots_client_never_reposts_after_a_server_error(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", status=503, performed=True)
    client = build_web_client(emu.bot_token, emu.api_url)

    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0EMEA", text="once")

    assert [m["text"] for m in emu.messages("C0EMEA")] == ["once"]
    assert [c.status for c in emu.calls("chat.postMessage")] == [503]


def test_the_bots_client_still_retries_reads_and_updates(emu: SlackEmulator) -> None:
    client = build_web_client(emu.bot_token, emu.api_url)
    ts = client.chat_postMessage(channel="C0EMEA", text="v1")["ts"]
    emu.fail_next("chat.update", status=500, performed=True)
    emu.fail_next("users.info", status=503)

    assert client.chat_update(channel="C0EMEA", ts=ts, text="v2")["ok"] is True
    assert client.users_info(user="U0REP1")["user"]["id"] == "U0REP1"

    assert [c.status for c in emu.calls("chat.update")] == [500, 200]
    assert [c.status for c in emu.calls("users.info")] == [503, 200]
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["v2"]


def test_api_method_is_read_from_the_url() -> None:
    assert api_method("https://slack.com/api/chat.postMessage") == "chat.postMessage"
    assert api_method("http://127.0.0.1:1/api/users.info?user=U1") == "users.info"


def test_fifty_alerts_with_half_failures_are_each_posted_once(bot) -> None:
    bot.slack_side.worker.stop()  # drive the outbox by hand for a deterministic run
    bot.emulator.fail_next("chat.postMessage", times=13, status=500, performed=True)
    bot.emulator.fail_next("chat.postMessage", times=12, status=503, performed=True)
    ids = [bot.qualify(f"half{i}@acme.de", country="DE" if i % 2 else "US") for i in range(50)]

    bot.drain_all()

    statuses = [c.status for c in bot.emulator.calls("chat.postMessage")]
    assert statuses.count(500) == 13 and statuses.count(503) == 12
    in_channels = [
        message
        for channel in (EMEA, NA)
        for message in bot.emulator.messages(channel)
        if message.get("metadata")
    ]
    posted = [m["metadata"]["event_payload"]["lead_id"] for m in in_channels]
    assert sorted(posted) == sorted(ids)  # every alert exactly once: none lost, none doubled
    with bot.db.transaction() as s:
        unsent = select(func.count()).select_from(Outbox).where(Outbox.delivered_at.is_(None))
        assert s.scalar(unsent) == 0
        recorded = {row.lead_id: row.ts for row in s.scalars(select(SlackMessage))}
    assert recorded == {
        m["metadata"]["event_payload"]["lead_id"]: m["ts"] for m in in_channels
    }  # the record points at the one message there is, also when the answer was a 500


def test_a_direct_message_slack_posted_but_answered_500_for_arrives_once(bot) -> None:
    bot.slack_side.worker.stop()
    lead_id = bot.qualify("dm@acme.de")
    bot.drain()  # the alert
    reply = bot.slack.command("/lead", f"assign {lead_id} <@U0REP2>", user="U0MGR1", channel=EMEA)
    assert reply.status == 200
    with bot.db.transaction() as s:
        unsent = select(Outbox.kind).where(Outbox.delivered_at.is_(None)).order_by(Outbox.id)
        queued = s.scalars(unsent).all()
    assert queued[-1] == "assigned_dm"
    bot.slack_side.notifier.drain(max_rows=len(queued) - 1)  # what comes before the DM
    bot.emulator.fail_next("chat.postMessage", status=500, performed=True)
    bot.drain()
    with bot.db.transaction() as s:  # the back-off has passed
        for row in s.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))):
            row.next_attempt_at = bot.runtime.now()
    bot.drain()

    [half] = [c for c in bot.emulator.calls("chat.postMessage") if c.status == 500]
    assert half.args["channel"] == "U0REP2"  # the DM is what Slack posted and answered 500 for
    dms = [m for m in bot.emulator.messages(bot.emulator.dm_channel("U0REP2")) if m.get("metadata")]
    assert len(dms) == 1
    with bot.db.transaction() as s:
        unsent = select(func.count()).select_from(Outbox).where(Outbox.delivered_at.is_(None))
        assert s.scalar(unsent) == 0
