"""The Slack listeners in-process (tests/slack/inprocess.py): each click, command and form is
dispatched straight to leadbot's Bolt app and has finished when the call returns; what the bot
told Slack is read from the recording client. Over-HTTP tests of the same surfaces live beside
this file and prove the wiring; these cover the listeners' behaviour fast, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.views import ids
from core.config import Settings
from core.models import Lead, StageTransition
from tests.factories import story
from tests.slack.inprocess import SECRET, InProcess, in_process

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, in business hours
REP, OTHER_REP, MANAGER, MARKETING, OUTSIDER = "U0REP1", "U0REP2", "U0MGR1", "U0MKT1", "U0OUT1"


@pytest.fixture
def slack(db, config, db_url, monkeypatch) -> InProcess:
    settings = Settings(
        LEADBOT_DATABASE_URL=db_url, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET=SECRET
    )
    return in_process(
        Runtime(settings=settings, config=config, db=db, clock=lambda: NOW), monkeypatch
    )


def mql(slack: InProcess, **profile) -> int:
    with slack.runtime.db.transaction() as session:
        return (
            story(session, "emea", ("mql", "system", NOW), **profile)
            if profile
            else story(session, "emea", ("mql", "system", NOW))
        )


def lead(slack: InProcess, lead_id: int) -> Lead:
    with slack.runtime.db.transaction() as session:
        found = session.get(Lead, lead_id)
        assert found is not None
        session.expunge(found)
        return found


def moves(slack: InProcess, lead_id: int) -> list[str]:
    with slack.runtime.db.transaction() as session:
        return list(
            session.scalars(
                select(StageTransition.to_stage)
                .where(StageTransition.lead_id == lead_id)
                .order_by(StageTransition.id)
            )
        )


def test_accept_makes_a_sal_and_a_second_click_is_told_who_won(slack):
    lead_id = mql(slack)
    assert slack.click(ids.ACCEPT, str(lead_id), user=REP).status == 200
    accepted = lead(slack, lead_id)
    assert (accepted.stage, accepted.owner) == ("sal", REP)
    slack.click(ids.ACCEPT, str(lead_id), user=OTHER_REP)
    assert lead(slack, lead_id).owner == REP
    assert any(REP in note for note in slack.notes(OTHER_REP))
    assert moves(slack, lead_id) == ["mql", "sal"]


@pytest.mark.parametrize("value", ["2 OR 1=1", "1e3", "99999999999999999999", "", "-1", "0"])
def test_a_button_that_names_no_lead_says_so_and_changes_nothing(slack, value):
    lead_id = mql(slack)
    for action in (ids.ACCEPT, ids.REJECT, ids.QUALIFY, ids.NURTURE, ids.SNOOZE, ids.ASSIGN):
        assert slack.click(action, value, user=REP).status == 200
    assert slack.notes(REP) == ["That lead no longer exists."] * 6
    assert lead(slack, lead_id).stage == "mql"
    assert slack.client.calls("views.open") == []


def test_an_unknown_lead_id_is_a_refusal_not_an_error(slack):
    slack.click(ids.ACCEPT, "424242", user=REP)
    assert len(slack.notes(REP)) == 1 and "424242" in slack.notes(REP)[0]


def test_an_outsider_is_refused_and_nothing_changes(slack):
    lead_id = mql(slack)
    slack.click(ids.ACCEPT, str(lead_id), user=OUTSIDER)
    assert lead(slack, lead_id).stage == "mql"
    assert len(slack.notes(OUTSIDER)) == 1
    reply = slack.command(f"lookup {lead_id}", user=OUTSIDER)
    assert "sales reps, managers and marketing" in reply.json["text"]
    assert "Ada" not in reply.body


def test_stats_for_managers_and_marketing_only(slack):
    mql(slack)
    refused = slack.command("stats", user=REP).json
    assert "stats" in refused["text"] and "managers and marketing" in refused["text"]
    for who in (MANAGER, MARKETING):
        shown = slack.command("stats emea 7d", user=who).body
        assert "Funnel, last 7 days, team emea" in shown


def test_bant_through_the_button_and_the_form_once(slack):
    lead_id = mql(slack)
    slack.click(ids.QUALIFY, str(lead_id), user=REP)
    (opened,) = slack.client.calls("views.open")
    view = opened.answer["view"]
    answers = {
        "budget": {"selected_option": {"value": "approved"}},
        "authority": {"selected_option": {"value": "decision_maker"}},
        "need": {"selected_option": {"value": "critical"}},
        "timeline": {"selected_option": {"value": "1_3_months"}},
    }
    done = slack.submit(view, answers, user=REP)
    assert done.json["response_action"] == "update"
    assert lead(slack, lead_id).stage == "sql"
    again = slack.submit(view, answers, user=REP)
    assert again.json["response_action"] == "errors"
    assert moves(slack, lead_id) == ["mql", "sal", "sql"]


def test_typed_text_and_lead_names_come_back_escaped(slack):
    with slack.runtime.db.transaction() as session:
        lead_id = story(session, "emea", ("mql", "system", NOW), ("sal", REP, NOW))
        session.get(Lead, lead_id).first_name = "<!channel>"
    reply = slack.command(f"nurture {lead_id} <!here> <https://evil|click>", user=REP).json
    assert "<!channel>" not in reply["text"] and "&lt;!channel&gt;" in reply["text"]
    slack.command(f"assign {lead_id} <!everyone>", user=MANAGER)
    reply = slack.command(f"assign {lead_id} <!everyone>", user=MANAGER).json
    assert "<!everyone>" not in str(reply)
