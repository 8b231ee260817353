"""`/lead` subcommands, the BANT and opportunity modals, assign, App Home: through the real HTTP
app and the emulator, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.models import Lead, Opportunity, Qualification, StageTransition
from emulators.slack.blockkit import validate_blocks, validate_view

EMEA = "C0EMEA"


def lead_row(bot, lead_id):
    with bot.db.transaction() as s:
        lead = s.get(Lead, lead_id)
        s.expunge(lead)
        return lead


def rows(bot, model):
    with bot.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def snapshot(bot):
    return {
        m.__tablename__: rows(bot, m) for m in (Lead, StageTransition, Qualification, Opportunity)
    }


def accepted(bot, email, user="U0REP1", **profile):
    lead_id = bot.qualify(email, **profile)
    bot.slack.click(bot.alert(lead_id), "Accept", user=user)
    bot.wait_stage(lead_id, "sal")
    return lead_id


def run(bot, text, user="U0REP1"):
    reply = bot.slack.command("/lead", text, user=user, channel=EMEA)
    assert reply.status == 200
    return reply


def reply_text(reply):
    return (reply.text or "") + " ".join(str(b) for b in (reply.blocks or []))


def open_modal(bot, user):
    assert bot.emulator.wait_for(lambda: bot.slack.views(user), 5), "no modal opened"
    view = bot.slack.views(user)[-1]
    assert validate_view(view) == []
    return view


BANT_ALL = {
    "budget": "approved",
    "authority": "decision_maker",
    "need": "critical",
    "timeline": "1_3_months",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "/lead lookup QUERY"),
        ("help", "/lead stats [team]"),
        ("frobnicate", "I don't know `frobnicate`"),
        ("lookup", "Usage: `/lead lookup QUERY`"),
        ("qualify", "Usage: `/lead qualify LEAD`"),
        ("opportunity", "Usage: `/lead opportunity LEAD`"),
        ("nurture", "Usage: `/lead nurture LEAD [reason]`"),
        ("disqualify", "Usage: `/lead disqualify LEAD [reason]`"),
        ("assign 1", "Usage: `/lead assign LEAD @user`"),
        ("assign 1 bob", "bob is not a person"),
        ("qualify nobody@nowhere.example", "No lead matches"),
        ("stats nowhere", "is neither a team"),
    ],
)
def test_usage_and_bad_input_change_nothing(bot, text, expected):
    accepted(bot, "someone@acme.de")
    before = snapshot(bot)
    reply = run(bot, text, user="U0MGR1")
    assert reply.ephemeral is not None, "replies are ephemeral"
    assert expected in reply_text(reply)
    assert snapshot(bot) == before
    assert reply.problems == []


def test_lookup_by_email_id_company_and_name(bot):
    lead_id = accepted(bot, "ada@lovelace.de", company="Analytical Engines")
    for query in ("ada@lovelace.de", str(lead_id), "analytical", "ANALYT", "ada"):
        reply = run(bot, f"lookup {query}", user="U0REP1")
        shown = reply_text(reply)
        assert "Analytical Engines" in shown and "SAL" in shown, query
        assert "<@U0REP1>" in shown and "History" in shown
        assert validate_blocks(reply.blocks) == []
    buttons = [
        e["text"]["text"]
        for b in run(bot, f"lookup {lead_id}").blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["Qualify", "Nurture"]  # what the owner may do next
    assert "No lead matches" in reply_text(run(bot, "lookup zebra"))


def test_lookup_shows_first_five_and_how_many_more(bot):
    for i in range(7):
        bot.api.post(
            "/api/v1/leads", json={"email": f"p{i}@initech.com", "company": f"Initech {i}"}
        )
    reply = run(bot, "lookup initech")
    assert reply_text(reply).count("Initech ") == 5 and "and 2 more" in reply_text(reply)


@pytest.mark.parametrize("text", ["lookup acme", "lookup buyer@acme.de", "mine", "stats"])
def test_lead_commands_refused_to_outsiders(bot, text):
    """Refused before any lead is read: an outsider learns nothing, not even who is a lead."""
    bot.api.post("/api/v1/leads", json={"email": "buyer@acme.de", "company": "Acme"})
    reply = reply_text(run(bot, text, user="U0OUT1"))
    assert "/lead is for sales reps, managers and marketing" in reply
    assert "acme" not in reply.lower()


def test_bant_round_trip_to_sql(bot):
    lead_id = accepted(bot, "buyer@acme.de")
    run(bot, f"qualify {lead_id}")
    modal = open_modal(bot, "U0REP1")
    done = bot.slack.submit(
        modal, {**BANT_ALL, "budget_amount": "25,000", "notes": "Met at the fair"}, user="U0REP1"
    )
    assert done.response_action == "update" and "now *SQL*" in str(done.view)
    lead = lead_row(bot, lead_id)
    assert lead.stage == "sql"
    with bot.db.transaction() as s:
        q = s.scalars(select(Qualification)).one()
        assert (q.budget, str(q.budget_amount), q.met, q.actor) == (
            "approved",
            "25000.00",
            4,
            "U0REP1",
        )
    # the alert's status line follows
    alert = bot.alert(lead_id)
    assert bot.emulator.wait_for(
        lambda: "Qualified (SQL)" in str(bot.emulator.message(alert["ts"])["blocks"]), 5
    )
    # prefilled next time (on a fresh SAL, the last answers are shown)
    text = reply_text(run(bot, f"lookup {lead_id}"))
    assert "BANT* (4/4 met" in text
    assert (  # the answers as the form named them
        "budget Approved (25000.00) · authority Decision maker · need Critical · "
        "timeline 1-3 months"
    ) in text


def test_too_few_criteria_stays_sal_and_names_the_missing(bot):
    lead_id = accepted(bot, "maybe@acme.de")
    run(bot, "qualify maybe@acme.de")
    modal = open_modal(bot, "U0REP1")
    done = bot.slack.submit(
        modal,
        {
            "budget": "being_set",
            "authority": "influencer",
            "need": "critical",
            "timeline": "under_1_month",
        },
        user="U0REP1",
    )
    assert "stays *SAL*" in str(done.view) and "Budget, Authority" in str(done.view)
    assert lead_row(bot, lead_id).stage == "sal"
    run(bot, f"qualify {lead_id}")
    # the form opens after the command's ack: wait for it, not for whatever view is on top
    assert bot.emulator.wait_for(
        lambda: (
            bot.slack.views("U0REP1")[-1:]
            and bot.slack.views("U0REP1")[-1].get("callback_id") == "lead_bant_submit"
        ),
        5,
    )
    again = bot.slack.views("U0REP1")[-1]
    prefilled = {
        b["block_id"]: b["element"].get("initial_option", {}).get("value")
        for b in again["blocks"]
        if b.get("type") == "input" and b["element"]["type"] == "static_select"
    }
    assert prefilled == {
        "budget": "being_set",
        "authority": "influencer",
        "need": "critical",
        "timeline": "under_1_month",
    }


def test_invalid_bant_values_are_inline_errors_and_nothing_is_stored(bot):
    lead_id = accepted(bot, "neg@acme.de")
    run(bot, f"qualify {lead_id}")
    modal = open_modal(bot, "U0REP1")
    before = snapshot(bot)
    done = bot.slack.submit(modal, {**BANT_ALL, "budget_amount": "-5"}, user="U0REP1")
    assert done.response_action == "errors" and "budget_amount" in done.errors
    again = bot.slack.submit(modal, {**BANT_ALL, "budget_amount": "lots"}, user="U0REP1")
    assert "not a number" in again.errors["budget_amount"]
    assert snapshot(bot) == before and lead_row(bot, lead_id).stage == "sal"


def test_rep_qualifying_an_mql_accepts_it_in_the_same_step(bot):
    lead_id = bot.qualify("direct@acme.de")
    bot.alert(lead_id)
    run(bot, f"qualify {lead_id}", user="U0REP2")
    done = bot.slack.submit(open_modal(bot, "U0REP2"), BANT_ALL, user="U0REP2")
    assert "accepted it in the same step" in str(done.view)
    with bot.db.transaction() as s:
        moves = [
            (t.from_stage, t.to_stage, t.actor)
            for t in s.scalars(
                select(StageTransition)
                .where(StageTransition.lead_id == lead_id)
                .order_by(StageTransition.id)
            )
        ]
    assert moves == [("lead", "mql", "system"), ("mql", "sal", "U0REP2"), ("sal", "sql", "U0REP2")]
    assert lead_row(bot, lead_id).owner == "U0REP2"


def sql_lead(bot, email):
    lead_id = accepted(bot, email)
    run(bot, f"qualify {lead_id}")
    bot.slack.submit(open_modal(bot, "U0REP1"), BANT_ALL, user="U0REP1")
    assert lead_row(bot, lead_id).stage == "sql"
    return lead_id


def test_opportunity_to_sqo_and_past_date_inline(bot):
    lead_id = sql_lead(bot, "deal@acme.de")
    run(bot, f"opportunity {lead_id}")
    assert bot.emulator.wait_for(
        lambda: any(
            v.get("callback_id") == "lead_opportunity_submit" for v in bot.slack.views("U0REP1")
        ),
        5,
    )
    modal = bot.slack.views("U0REP1")[-1]
    assert validate_view(modal) == []
    yesterday = (bot.runtime.now() - timedelta(days=1)).date().isoformat()
    past = bot.slack.submit(
        modal,
        {"name": "Acme rollout", "amount": "48000", "currency": "EUR", "close_date": yesterday},
        user="U0REP1",
    )
    assert past.response_action == "errors" and "past" in past.errors["close_date"]
    zero = bot.slack.submit(
        modal, {"name": "Acme rollout", "amount": "0", "currency": "EUR"}, user="U0REP1"
    )
    assert "more than 0" in zero.errors["amount"]
    assert lead_row(bot, lead_id).stage == "sql" and rows(bot, Opportunity) == 0
    later = (bot.runtime.now() + timedelta(days=30)).date().isoformat()
    done = bot.slack.submit(
        modal,
        {"name": "Acme rollout", "amount": "48000", "currency": "EUR", "close_date": later},
        user="U0REP1",
    )
    assert done.response_action == "update" and "SQO" in str(done.view)
    assert lead_row(bot, lead_id).stage == "sqo"
    detail = bot.api.get(f"/api/v1/leads/{lead_id}").json()
    assert (
        detail["opportunity"]["name"] == "Acme rollout"
        and detail["opportunity"]["currency"] == "EUR"
    )


def test_illegal_moves_name_the_current_stage(bot):
    sal = accepted(bot, "sal@acme.de")
    reply = run(bot, f"opportunity {sal}")
    assert "The lead is sal, so it cannot move to sqo" in reply_text(reply)
    run(bot, f"disqualify {sal} wrong number")
    assert lead_row(bot, sal).stage == "unqualified"
    reply = run(bot, f"qualify {sal}")
    assert "The lead is unqualified" in reply_text(reply)
    assert bot.slack.views("U0REP1") == []


def test_other_reps_lead_and_rep_assign_are_refused(bot):
    lead_id = accepted(bot, "theirs@acme.de", user="U0REP1")
    before = snapshot(bot)
    for text in (
        f"qualify {lead_id}",
        f"nurture {lead_id}",
        f"disqualify {lead_id}",
        f"opportunity {lead_id}",
        f"assign {lead_id} <@U0REP2|rep2>",
    ):
        reply = run(bot, text, user="U0REP2")
        assert "Nothing was changed" in reply_text(reply), text
    assert snapshot(bot) == before and bot.slack.views("U0REP2") == []
    assert "managers and marketing" in reply_text(run(bot, "stats", user="U0REP1"))


def test_manager_assigns_and_new_owner_is_told(bot):
    lead_id = accepted(bot, "move@acme.de", user="U0REP1")
    reply = run(bot, f"assign {lead_id} <@U0REP2|rep2>", user="U0MGR1")
    assert "now <@U0REP2>'s" in reply_text(reply)
    assert lead_row(bot, lead_id).owner == "U0REP2"
    dm = bot.emulator.dm_channel("U0REP2")
    assert bot.emulator.wait_for(lambda: bot.emulator.messages(dm), 5)
    assert "assigned you" in str(bot.emulator.messages(dm)[-1]["blocks"])
    outsider = run(bot, f"assign {lead_id} <@U0REP3|rep3>", user="U0MGR1")
    assert "not a rep or manager of the emea team" in reply_text(outsider)


def test_nurture_mine_and_stats(bot):
    first = accepted(bot, "one@acme.de")
    second = accepted(bot, "two@acme.de")
    mine = reply_text(run(bot, "mine"))
    assert mine.index(f"#{first}") < mine.index(f"#{second}")  # oldest first
    assert "You have no open leads" in reply_text(run(bot, "mine", user="U0REP2"))
    assert "is now nurture" in reply_text(run(bot, "nurture two@acme.de not this quarter"))
    assert lead_row(bot, second).stage == "nurture"
    stats = run(bot, "stats emea 7d", user="U0MGR1")
    shown = reply_text(stats)
    assert (
        "last 7 days, team emea" in shown
        and "MQL 2" in shown
        and "SAL 2" in shown
        and "MQL→SAL 100%" in shown
    )
    assert validate_blocks(stats.blocks) == []
    assert "all teams" in reply_text(run(bot, "stats", user="U0MKT1"))


def test_app_home_for_rep_and_manager(bot):
    accepted(bot, "mine@acme.de", user="U0REP1")
    waiting = bot.qualify("waiting@acme.de")
    bot.alert(waiting)
    bot.slack.event("app_home_opened", user="U0REP1", tab="home")
    bot.slack.event("app_home_opened", user="U0MGR1", tab="home")
    assert bot.emulator.wait_for(lambda: bot.slack.home("U0REP1") and bot.slack.home("U0MGR1"), 5)
    rep, manager = bot.slack.home("U0REP1"), bot.slack.home("U0MGR1")
    for view in (rep, manager):
        assert validate_view(view) == [] and len(view["blocks"]) <= 100
    assert "Waiting for you" in str(rep) and "Ada Mine" in str(rep) and "Qualify" in str(rep)
    assert "Not accepted yet" not in str(rep)
    assert "Not accepted yet (emea)" in str(manager) and "Assign" in str(manager)
    assert "SLA breaches" in str(manager)


def test_buttons_on_a_lookup_card_open_the_modals(bot):
    lead_id = accepted(bot, "button@acme.de")
    card = run(bot, f"lookup {lead_id}")
    bot.slack.click(card.ephemeral, "Qualify", user="U0REP1")
    bant = open_modal(bot, "U0REP1")
    assert bant["callback_id"] == "lead_bant_submit" and bant["external_id"]
    manager_card = run(bot, f"lookup {lead_id}", user="U0MGR1")
    bot.slack.click(manager_card.ephemeral, "Assign", user="U0MGR1")
    assert open_modal(bot, "U0MGR1")["callback_id"] == "lead_assign_submit"
    done = bot.slack.submit(bot.slack.views("U0MGR1")[-1], {"owner": "U0REP2"}, user="U0MGR1")
    assert done.closed and lead_row(bot, lead_id).owner == "U0REP2"
    bot.slack.click(
        run(bot, f"lookup {lead_id}", user="U0REP2").ephemeral, "Nurture", user="U0REP2"
    )
    bot.wait_stage(lead_id, "nurture")
