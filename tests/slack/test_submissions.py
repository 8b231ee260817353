"""Replayed and forged modal submissions, through the real HTTP app and the emulator, on both
engines: every modal the bot opens is recorded, and only its user's one submission counts."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.models import Lead, OpenedView, Opportunity, Outbox, Qualification, StageTransition
from core.services.opened_views import ALREADY_USED, NOT_OPENED, NOT_YOURS
from emulators.slack import payloads
from tests.slack.conftest import eventually

EMEA = "C0EMEA"
BANT_ALL = {
    "budget": "approved",
    "authority": "decision_maker",
    "need": "critical",
    "timeline": "1_3_months",
}
FORMS = ["reject", "bant", "opportunity", "assign"]


def snapshot(bot):
    """Everything a submission could change."""
    with bot.db.transaction() as s:
        counts = {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (StageTransition, Qualification, Opportunity, Outbox)
        }
        leads = [(lead.stage, lead.owner, lead.version) for lead in s.scalars(select(Lead))]
    return counts, sorted(leads)


def opened_rows(bot):
    with bot.db.transaction() as s:
        rows = s.scalars(select(OpenedView).order_by(OpenedView.id)).all()
        for row in rows:
            s.expunge(row)
        return rows


def run(bot, text, user="U0REP1"):
    reply = bot.slack.command("/lead", text, user=user, channel=EMEA)
    assert reply.status == 200
    return reply


def modal_of(bot, user, callback):
    def top():
        views = bot.slack.views(user)
        return views and views[-1].get("callback_id") == callback

    assert bot.emulator.wait_for(top, 5), f"no {callback} modal for {user}"
    return bot.slack.views(user)[-1]


def sal_lead(bot, email):
    lead_id = bot.qualify(email)
    bot.slack.click(bot.alert(lead_id), "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    return lead_id


def open_form(bot, form):
    """Open one of the bot's modals the way a person does; (lead id, view, values, user)."""
    lead_id, view, values, user = _open_form(bot, form)
    assert eventually(lambda: any(row.view_id == view["id"] for row in opened_rows(bot)))
    return lead_id, view, values, user


def _open_form(bot, form):
    if form == "reject":
        lead_id = bot.qualify("reject@acme.de")
        bot.slack.click(bot.alert(lead_id), "Reject", user="U0REP1")
        return lead_id, modal_of(bot, "U0REP1", "lead_reject_submit"), {"reason": "spam"}, "U0REP1"
    lead_id = sal_lead(bot, f"{form}@acme.de")
    if form == "bant":
        run(bot, f"qualify {lead_id}")
        return lead_id, modal_of(bot, "U0REP1", "lead_bant_submit"), BANT_ALL, "U0REP1"
    if form == "opportunity":
        run(bot, f"qualify {lead_id}")
        bot.slack.submit(modal_of(bot, "U0REP1", "lead_bant_submit"), BANT_ALL, user="U0REP1")
        bot.wait_stage(lead_id, "sql")
        run(bot, f"opportunity {lead_id}")
        later = (bot.runtime.now() + timedelta(days=30)).date().isoformat()
        values = {"name": "Rollout", "amount": "1000", "currency": "EUR", "close_date": later}
        return lead_id, modal_of(bot, "U0REP1", "lead_opportunity_submit"), values, "U0REP1"
    card = run(bot, f"lookup {lead_id}", user="U0MGR1")
    bot.slack.click(card.ephemeral, "Assign", user="U0MGR1")
    return lead_id, modal_of(bot, "U0MGR1", "lead_assign_submit"), {"owner": "U0REP2"}, "U0MGR1"


def post(bot, payload):
    """Send a view_submission as Slack would (signed now); the errors the app answered."""
    status, body, _ = bot.slack.connection.post_interaction(payload)
    assert status == 200
    return json.loads(body).get("errors", {}) if body.strip() else {}


def errors_text(errors):
    return " ".join(errors.values())


@pytest.mark.parametrize("form", FORMS)
def test_a_replayed_submission_changes_nothing(bot, form):
    lead_id, view, values, user = open_form(bot, form)
    done = bot.slack.submit(view, values, user=user)
    assert done.ok and not done.errors, done.errors
    before = snapshot(bot)

    for _ in range(3):  # the same signed request, again, inside Slack's five minutes
        assert ALREADY_USED in errors_text(post(bot, done.payload))

    assert snapshot(bot) == before
    [row] = opened_rows(bot)[-1:]
    assert (row.view_id, row.callback_id, row.user_id, row.lead_id) == (
        view["id"],
        view["callback_id"],
        user,
        lead_id,
    )
    assert row.opened_at is not None and row.used_at is not None


@pytest.mark.parametrize("form", FORMS)
def test_a_submission_of_a_view_the_bot_never_opened_is_refused(bot, form):
    _lead_id, view, values, user = open_form(bot, form)
    who = bot.slack.connection._identity(user)
    state = payloads.state_values(view["blocks"], values)
    before = snapshot(bot)
    forgeries = [
        {**view, "id": "V0FORGED", "external_id": ""},  # never opened at all
        {**view, "id": "V0FORGED"},  # a real form's nonce on another view
        {**view, "external_id": "made-up"},  # the real view id, a made-up nonce
    ]
    for forged in forgeries:
        payload = payloads.view_submission(who, view=forged, state_values=state, trigger_id="1.2")
        assert NOT_OPENED in errors_text(post(bot, payload))
    assert snapshot(bot) == before
    assert opened_rows(bot)[-1].used_at is None  # the real form may still be sent
    assert bot.slack.submit(view, values, user=user).errors == {}
    assert snapshot(bot) != before


def test_a_form_of_one_kind_cannot_be_submitted_as_another(bot):
    _lead_id, view, values, _user = open_form(bot, "bant")
    who = bot.slack.connection._identity("U0REP1")
    as_assign = {**view, "callback_id": "lead_assign_submit"}
    state = payloads.state_values(view["blocks"], values)
    state["owner"] = {"owner": {"type": "users_select", "selected_user": "U0REP1"}}
    before = snapshot(bot)
    payload = payloads.view_submission(who, view=as_assign, state_values=state, trigger_id="1.2")
    assert NOT_OPENED in errors_text(post(bot, payload))
    assert snapshot(bot) == before


def test_someone_elses_form_is_refused(bot):
    _lead_id, view, values, _ = open_form(bot, "bant")
    intruder = bot.slack.connection._identity("U0MGR1")  # a manager could qualify it himself
    state = payloads.state_values(view["blocks"], values)
    before = snapshot(bot)
    payload = payloads.view_submission(intruder, view=view, state_values=state, trigger_id="1.2")
    assert NOT_YOURS in errors_text(post(bot, payload))
    assert snapshot(bot) == before


def test_simultaneous_replays_count_once(bot):
    _lead_id, view, values, user = open_form(bot, "bant")
    who = bot.slack.connection._identity(user)
    state = payloads.state_values(view["blocks"], values)
    payload = payloads.view_submission(who, view=view, state_values=state, trigger_id="1.2")
    answers = []
    start = threading.Barrier(6)

    def send():
        start.wait()
        answers.append(post(bot, payload))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ALREADY_USED in errors_text(a) for a in answers) == [False] + [True] * 5
    with bot.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Qualification)) == 1


def test_a_form_slack_refused_to_open_is_not_kept(bot):
    lead_id = sal_lead(bot, "refused@acme.de")
    bot.emulator.fail_next("views.open", status=200, error="expired_trigger_id")
    run(bot, f"qualify {lead_id}")
    bot.slack.wait_for_calls("views.open")
    assert bot.emulator.wait_for(
        lambda: any("could not open" in (e.text or "") for e in bot.slack.ephemerals("U0REP1")),
        5,
    )
    assert opened_rows(bot) == []


def test_a_form_slack_opened_but_answered_500_for_still_counts_once(bot):
    lead_id = sal_lead(bot, "half-open@acme.de")
    bot.emulator.fail_next("views.open", status=500, performed=True)
    run(bot, f"qualify {lead_id}")
    view = modal_of(bot, "U0REP1", "lead_bant_submit")  # open, although the answer said 500
    assert bot.emulator.wait_for(
        lambda: any("could not open" in (e.text or "") for e in bot.slack.ephemerals("U0REP1")),
        5,
    )
    [row] = opened_rows(bot)
    assert row.view_id is None  # Slack never told us its id

    done = bot.slack.submit(view, BANT_ALL, user="U0REP1")

    assert done.errors == {} and bot.wait_stage(lead_id, "sql")
    assert ALREADY_USED in errors_text(post(bot, done.payload))
    assert opened_rows(bot)[0].view_id == view["id"]
