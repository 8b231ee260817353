"""Junk and hostile text at /slack/events, over real HTTP, on both engines: no 5xx, no
traceback in the log, nothing changed."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from core.models import Lead, StageTransition
from emulators.slack.signing import signature
from tests.integration.conftest import row_counts

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TIMESTAMPS = [None, "abc", "1e9", "-1", "17.5", "9" * 40, ""]
BODIES = [b"token=x", b"{", b"payload=%7B", b"payload=%7B%7D", b"hello", b"\xff\xfe\x00",
          b"\xc3(", b"", b"payload=" + b"%5B" * 5000]  # fmt: skip
CONTENT_TYPES = [FORM, JSON, "text/plain"]


def now() -> str:
    return str(int(time.time()))


def junk() -> list[tuple[dict[str, str], bytes, str]]:
    """What anyone on the internet can send: every bad timestamp (and a fresh one with a wrong
    signature) with every body and content type, plus missing headers."""
    cases = []
    for timestamp in [*TIMESTAMPS, now()]:
        for body in BODIES:
            for content_type in CONTENT_TYPES:
                headers = {"X-Slack-Signature": "v0=" + "0" * 64}
                if timestamp is not None:
                    headers["X-Slack-Request-Timestamp"] = timestamp
                cases.append((headers, body, content_type))
    cases += [({}, body, FORM) for body in BODIES]
    cases += [({"X-Slack-Request-Timestamp": now()}, b"payload=%7B%7D", FORM)]
    cases += [({"X-Slack-Request-Timestamp": now(), "X-Slack-Signature": "nope"}, b"{", JSON)]
    return cases


def test_unsigned_junk_is_refused_in_one_log_line_each(bot, caplog):
    before = row_counts(bot.db)
    caplog.set_level(logging.INFO)
    statuses = []
    cases = junk()
    for headers, body, content_type in cases:
        reply = httpx.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={**headers, "Content-Type": content_type},
            timeout=10,
        )
        statuses.append(reply.status_code)
    assert statuses == [401] * len(cases)
    refused = [r for r in caplog.records if r.name == "bot.http.slack_route"]
    assert len(refused) == len(cases)
    assert all("\n" not in r.getMessage() for r in refused)
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
    assert row_counts(bot.db) == before


def test_a_signed_body_that_cannot_be_read_is_400(bot, caplog):
    secret = bot.emulator.signing_secret
    for body, content_type in ((b"payload=%7B", FORM), (b"\xff\xfe", FORM), (b"{", JSON)):
        stamp = now()
        reply = httpx.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature(secret, stamp, body),
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


def _payload(data) -> bytes:
    return b"payload=" + quote(json.dumps(data)).encode()


def signed_junk(lead_id: int) -> list[tuple[str, bytes, str]]:
    """Signed bodies that are not what Slack documents, or that Slack sends and the bot has no
    use for: (what, body, content type)."""
    user = {"id": "U0REP1"}
    accept = {"action_id": "lead_accept", "block_id": "b", "type": "button"}
    click = {"type": "block_actions", "user": user, "trigger_id": "t", "team": {"id": "T1"}}
    return [
        ("payload []", b"payload=[]", FORM),
        ('payload "x"', b"payload=%22x%22", FORM),
        ("payload null", b"payload=null", FORM),
        ("json null", b"null", JSON),
        ("json list", b"[1, 2]", JSON),
        ("nested 100,000 deep", b"payload=" + b"%5B" * 100_000 + b"%5D" * 100_000, FORM),
        ("json nested deep", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, JSON),
        ("event is a string", json.dumps({"type": "event_callback", "event": "x"}).encode(), JSON),
        ("event is a list", json.dumps({"type": "event_callback", "event": []}).encode(), JSON),
        (
            "home opened without a user",
            json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}}).encode(),
            JSON,
        ),
        (
            "an event type the bot does not use",
            json.dumps(
                {"type": "event_callback", "event": {"type": "reaction_added", "user": "U0REP1"}}
            ).encode(),
            JSON,
        ),
        ("actions empty", _payload({**click, "actions": []}), FORM),
        ("actions a string", _payload({**click, "actions": "lead_accept"}), FORM),
        ("a click without a user", _payload({"type": "block_actions", "actions": [accept]}), FORM),
        ("a button without a value", _payload({**click, "actions": [accept]}), FORM),
        ("an unknown button", _payload({**click, "actions": [{**accept, "action_id": "x"}]}), FORM),
        ("a closed form", _payload({"type": "view_closed", "user": user, "view": {}}), FORM),
        (
            "a form the bot did not open",
            _payload(
                {
                    "type": "view_submission",
                    "user": user,
                    "view": {"id": "V1", "callback_id": "other", "state": {"values": {}}},
                }
            ),
            FORM,
        ),
        (
            "a submission without a view",
            _payload(
                {
                    "type": "view_submission",
                    "user": user,
                    "view": {"callback_id": "lead_bant_submit"},
                }
            ),
            FORM,
        ),
        ("another slash command", b"command=%2Fother&text=x&user_id=U0REP1", FORM),
        ("a command without a user", b"command=%2Flead&text=help", FORM),
        *[
            (
                f"Accept with value {value!r}",
                _payload({**click, "actions": [{**accept, "value": value}]}),
                FORM,
            )
            for value in ("99999999999999999999", "1e3", "2 OR 1=1", f"{lead_id}.0")
        ],
        ("an unknown type", json.dumps({"type": "app_rate_limited"}).encode(), JSON),
    ]


def test_signed_junk_gets_200_or_400_at_most_one_log_line_and_changes_nothing(bot, caplog):
    lead_id = bot.qualify("junk@acme.de")
    bot.alert(lead_id)
    bot.drain()
    before = row_counts(bot.db)
    caplog.set_level(logging.INFO)
    secret = bot.emulator.signing_secret
    for what, body, content_type in signed_junk(lead_id):
        caplog.clear()
        stamp = now()
        reply = httpx.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature(secret, stamp, body),
            },
            timeout=10,
        )
        assert reply.status_code in (200, 400), (what, reply.status_code, reply.text[:200])
        time.sleep(0.05)  # a listener that acked may still be logging
        ours = [r for r in caplog.records if r.name.startswith(("bot", "slack_bolt"))]
        assert len(ours) <= 1, (what, [r.getMessage()[:200] for r in ours])
        assert not any(r.exc_info for r in caplog.records), what
        assert "Traceback" not in caplog.text, what
    assert row_counts(bot.db) == before
    with bot.db.transaction() as s:
        assert s.get(Lead, lead_id).stage == "mql"
