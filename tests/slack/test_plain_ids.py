"""Core stores and returns plain user ids; Slack shows them as mentions."""

from __future__ import annotations

from tests.slack.test_commands import reply_text, run


def test_the_api_shows_plain_ids_and_slack_shows_mentions(bot):
    lead_id = bot.qualify("ids@acme.de")
    bot.alert(lead_id)
    assert "now <@U0REP2>'s" in reply_text(run(bot, f"assign {lead_id} <@U0REP2|r>", user="U0MGR1"))
    detail = bot.api.get(f"/api/v1/leads/{lead_id}")
    assert detail.status_code == 200
    assert "assigned to U0REP2" in [h["reason"] for h in detail.json()["history"]]
    assert "<@" not in detail.text
    card = reply_text(run(bot, f"lookup {lead_id}", user="U0REP1"))
    assert "assigned to <@U0REP2>" in card


def test_refusals_mention_people_in_slack(bot):
    lead_id = bot.qualify("late@acme.de")
    bot.alert(lead_id)
    run(bot, f"assign {lead_id} <@U0REP1|r>", user="U0MGR1")
    again = reply_text(run(bot, f"assign {lead_id} <@U0REP1|r>", user="U0MGR1"))
    assert "The lead is already <@U0REP1>'s." in again
    outsider = reply_text(run(bot, f"assign {lead_id} <@U0REP3|r>", user="U0MGR1"))
    assert "<@U0REP3> is not a rep or manager of the emea team" in outsider


def test_an_unknown_lead_is_404_with_its_reason(bot):
    reply = bot.api.get("/api/v1/leads/424242")
    assert reply.status_code == 404 and "no lead with id 424242" in reply.json()["detail"]
