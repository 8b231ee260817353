"""An outbox row no message type fits is given up with its error, and never holds up the
lead's later messages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import Outbox
from tests.slack.test_robustness import MKTG, texts

BAD_ROWS = {
    "unknown kind": ("lead_promoted", {"transition_id": 1}, "unknown outbox kind 'lead_promoted'"),
    "payload that does not fit": ("assigned_dm", {"owner": 7}, "actor"),
}


@pytest.mark.parametrize("bad", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_an_unreadable_row_is_given_up_and_the_next_message_is_delivered(bot, bad):
    kind, payload, error = bad
    bot.slack_side.worker.stop()
    lead_id = bot.qualify("typo@acme.de")
    bot.drain()
    alert = bot.alert(lead_id)
    with bot.db.transaction() as s:
        s.add(
            Outbox(
                kind=kind,
                lead_id=lead_id,
                payload=payload,
                created_at=bot.runtime.now(),
                next_attempt_at=bot.runtime.now(),
                attempts=0,
            )
        )
    bot.slack.click(alert, "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    report = bot.slack_side.notifier.drain()
    assert (report.failed, report.sent) == (1, 2)  # the bad row; the refresh and marketing's note
    with bot.db.transaction() as s:
        given_up = s.scalars(select(Outbox).where(Outbox.gave_up_at.is_not(None))).one()
        assert given_up.kind == kind and error in given_up.last_error
        assert given_up.delivered_at is None  # kept, with its error, for people to see
        assert s.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))).all() == [given_up]
    assert any("accepted" in texts(m) for m in bot.emulator.messages(MKTG))
    assert bot.slack_side.notifier.drain().sent == 0  # given up means not tried again
