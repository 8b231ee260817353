"""What the Slack layer does with awkward input and a Slack that says no."""

from __future__ import annotations

from sqlalchemy import select

from core.models import Lead, Outbox
from emulators.slack.blockkit import validate_blocks
from tests.slack.conftest import eventually

MKTG = "C0MKTG"


def texts(message):
    return " ".join(str(block) for block in message.get("blocks", []))


def stage(bot, lead_id):
    with bot.db.transaction() as s:
        return s.get(Lead, lead_id).stage


def test_a_long_comment_full_of_markup_still_reaches_marketing(bot):
    lead_id = bot.qualify("markup@acme.de")
    alert = bot.alert(lead_id)
    bot.slack.click(alert, "Reject", user="U0REP1")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP1"), 5)
    comment = ("<see thread> & <!channel> " * 80)[:2000]
    done = bot.slack.submit(
        bot.slack.views("U0REP1")[-1], {"reason": "not_ready", "comment": comment}, user="U0REP1"
    )
    assert done.closed
    assert bot.emulator.wait_for(
        lambda: any("rejected" in texts(m) for m in bot.emulator.messages(MKTG)), 5
    )
    note = next(m for m in bot.emulator.messages(MKTG) if "rejected" in texts(m))
    assert validate_blocks(note["blocks"]) == []
    assert "<!channel>" not in texts(note) and "&lt;!channel&gt;" in texts(note)  # escaped, no ping


def test_a_name_with_markup_is_escaped_everywhere(bot):
    lead_id = bot.qualify("evil@acme.de", first_name="<!channel>", last_name="<@U0MGR1>")
    alert = bot.alert(lead_id)
    assert "<!channel>" not in alert["text"] and "<!channel>" not in texts(alert)
    bot.slack.click(alert, "Accept", user="U0REP1")
    assert bot.emulator.wait_for(lambda: bot.emulator.messages(MKTG), 5)
    assert all(
        "<!channel>" not in (m.get("text") or "") + texts(m) for m in bot.emulator.messages(MKTG)
    )


def test_slack_refusing_for_good_does_not_hold_up_the_lead(bot):
    bot.slack_side.worker.stop()
    lead_id = bot.qualify("gone@acme.de")
    bot.drain()
    alert = bot.alert(lead_id)
    bot.emulator.fail_next("chat.update", status=200, error="message_not_found")
    bot.slack.click(alert, "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    report = bot.slack_side.notifier.drain()
    assert report.failed == 1 and report.sent == 1  # the refresh gave up, marketing was still told
    with bot.db.transaction() as s:
        given_up = s.scalars(select(Outbox).where(Outbox.gave_up_at.is_not(None))).one()
        assert given_up.kind == "alert_refresh" and "message_not_found" in given_up.last_error
    assert any("accepted" in texts(m) for m in bot.emulator.messages(MKTG))
    assert "leadbot_outbox_given_up 1.0" in bot.api.get("/metrics").text
    assert bot.slack_side.notifier.retry_given_up() == 1  # once the cause is fixed
    again = bot.slack_side.notifier.drain()
    assert again.sent == 1 and "leadbot_outbox_given_up 0.0" in bot.api.get("/metrics").text


def test_a_finished_row_taken_over_by_another_worker_is_not_recorded_twice(bot):
    bot.slack_side.worker.stop()
    bot.qualify("lease@acme.de")
    notifier = bot.slack_side.notifier
    first = notifier.claim()
    with bot.db.transaction() as s:  # the lease ran out and another worker claimed the row
        row = s.get(Outbox, first.id)
        row.attempts += 1
    notifier.succeeded(first, None)
    with bot.db.transaction() as s:
        assert s.get(Outbox, first.id).delivered_at is None  # not ours to finish any more


def test_outsiders_learn_nothing_about_leads(bot):
    lead_id = bot.qualify("secret@acme.de")
    bot.alert(lead_id)
    known = bot.slack.command("/lead", "qualify secret@acme.de", user="U0OUT1", channel="C0EMEA")
    unknown = bot.slack.command("/lead", "qualify nobody@acme.de", user="U0OUT1", channel="C0EMEA")
    assert known.text == unknown.text and "Nothing was changed" in known.text
    assert "mql" not in known.text


def test_escaped_command_text_is_read_as_typed(bot):
    bot.api.post("/api/v1/leads", json={"email": "ceo@att.com", "company": "AT&T"})
    reply = bot.slack.command(
        "/lead", "lookup AT&T", user="U0REP1", channel="C0EMEA"
    )  # sent as AT&amp;T
    assert "AT&amp;T" in str(reply.blocks) and "No lead matches" not in (reply.text or "")


def test_a_form_slack_will_not_open_gets_a_note_not_an_error(bot):
    lead_id = bot.qualify("late@acme.de")
    bot.slack.click(bot.alert(lead_id), "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    bot.emulator.fail_next("views.open", status=200, error="expired_trigger_id")
    reply = bot.slack.command("/lead", f"qualify {lead_id}", user="U0REP1", channel="C0EMEA")
    assert reply.status == 200
    assert eventually(
        lambda: any(
            "could not open the form" in (e.text or "") for e in bot.slack.ephemerals("U0REP1")
        )
    )


def test_qualifying_or_assigning_a_waiting_lead_tells_marketing(bot):
    first = bot.qualify("q@acme.de")
    bot.alert(first)
    bot.slack.command("/lead", f"qualify {first}", user="U0REP2", channel="C0EMEA")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP2"), 5)
    bot.slack.submit(
        bot.slack.views("U0REP2")[-1],
        {"budget": "none", "authority": "influencer", "need": "none", "timeline": "unknown"},
        user="U0REP2",
    )
    second = bot.qualify("a@acme.de")
    bot.alert(second)
    bot.slack.command("/lead", f"assign {second} <@U0REP1|rep1>", user="U0MGR1", channel="C0EMEA")
    assert stage(bot, first) == "sal" and stage(bot, second) == "sal"

    def told():
        shown = " ".join(texts(m) for m in bot.emulator.messages(MKTG))
        return (
            "was accepted by <@U0REP2>" in shown
            and "was assigned to <@U0REP1> by <@U0MGR1>" in shown
        )

    assert bot.emulator.wait_for(told, 5)


def test_the_emulator_escapes_command_text_like_slack():
    from emulators.slack.payloads import escape_command_text

    assert escape_command_text("lookup AT&T <b>") == "lookup AT&amp;T &lt;b&gt;"
    assert escape_command_text("assign 4 <@U0REP1|rep1> & co") == "assign 4 <@U0REP1|rep1> &amp; co"
