"""Junk and hostile text at /slack/events, over real HTTP, on both engines: no 5xx, no
traceback in the log, nothing changed."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from sqlalchemy import select

from bot.sandbox.signing import signature
from core.models import Lead, StageTransition
from tests.integration.conftest import row_counts

NOW = str(int(time.time()))
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# (headers, body, content type): what anyone on the internet can send.
JUNK = [
    ({"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}, b"token=x", FORM),
    ({"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"}, b"token=x", FORM),
    ({"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": "v0=00"}, b"token=x", FORM),
    ({"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=00"}, b"a=b", FORM),
    ({"X-Slack-Request-Timestamp": "17.5", "X-Slack-Signature": "v0=00"}, b"a=b", FORM),
    ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=00"}, b"{", JSON),
    ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=00"}, b"payload=%7B", FORM),
    ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=00"}, b"hello", "text/plain"),
    ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=00"}, b"\xff\xfe\x00", FORM),
    ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "nope"}, b"\xc3(", JSON),
    ({"X-Slack-Request-Timestamp": NOW}, b"payload=%7B%7D", FORM),
    ({"X-Slack-Signature": "v0=00"}, b"payload=%7B%7D", FORM),
    ({}, b"\xff", JSON),
    ({}, b"", FORM),
    ({}, b"payload=" + b"%5B" * 5000, FORM),
]


def test_unsigned_junk_is_refused_in_one_log_line_each(bot, caplog):
    before = row_counts(bot.db)
    caplog.set_level(logging.INFO)
    statuses = []
    for headers, body, content_type in JUNK:
        reply = httpx.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={**headers, "Content-Type": content_type},
            timeout=10,
        )
        statuses.append(reply.status_code)
    assert statuses == [401] * len(JUNK)
    refused = [r for r in caplog.records if r.name == "bot.slack_http"]
    assert len(refused) == len(JUNK)
    assert all("\n" not in r.getMessage() for r in refused)
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
    assert row_counts(bot.db) == before


def test_a_signed_body_that_cannot_be_read_is_400(bot, caplog):
    secret = bot.emulator.signing_secret
    for body, content_type in ((b"payload=%7B", FORM), (b"\xff\xfe", FORM), (b"{", JSON)):
        reply = httpx.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": NOW,
                "X-Slack-Signature": signature(secret, NOW, body),
            },
            timeout=10,
        )
        assert reply.status_code == 400
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("lookup a\x00b@acme.de", "No lead matches ab@acme.de"),
        ("lookup nul@acme.de\x00", "1 lead(s)"),
        ("lookup \x00\x00", "What should I look for?"),
        ("qualify \x00", "Which lead?"),
    ],
)
def test_nul_in_command_text_is_dropped(bot, caplog, text, answer):
    bot.qualify("nul@acme.de")
    reply = bot.slack.command("/lead", text, user="U0REP1", channel="C0EMEA")
    assert reply.status == 200
    assert answer in (reply.text or "")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_nul_and_surrogates_in_a_modal_are_dropped_not_stored(bot, caplog):
    lead_id = bot.qualify("modal@acme.de")
    bot.slack.click(bot.alert(lead_id), "Reject", user="U0REP1")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP1"), 5)
    done = bot.slack.submit(
        bot.slack.views("U0REP1")[-1],
        {"reason": "not_ready", "comment": "too\x00 early \udfff"},
        user="U0REP1",
    )
    assert done.status == 200 and done.closed
    lead = bot.wait_stage(lead_id, "nurture")
    with bot.db.transaction() as s:
        reasons = s.scalars(
            select(StageTransition.reason).where(StageTransition.lead_id == lead.id)
        ).all()
        stored = s.get(Lead, lead_id)
        assert stored is not None
    assert any("too early \ufffd" in (r or "") for r in reasons), reasons
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
