"""The handoff through the real HTTP app and the emulator: alert, Accept, Reject, permissions,
races, Slack failures and crash recovery."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from core.models import Lead, Outbox, SlackMessage, StageTransition
from emulators.slack.blockkit import validate_blocks, validate_view

MKTG, EMEA, NA = "C0MKTG", "C0EMEA", "C0NA"


def lead_row(bot, lead_id):
    with bot.db.transaction() as s:
        lead = s.get(Lead, lead_id)
        s.expunge(lead)
        return lead


def count(bot, model, **where):
    with bot.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).filter_by(**where))


def texts(message):
    return " ".join(str(block) for block in message.get("blocks", []))


def marketing_messages(bot, needle, count_=1, timeout=5.0):
    found = []

    def seen():
        found[:] = [m for m in bot.emulator.messages(MKTG) if needle in texts(m)]
        return len(found) >= count_

    assert bot.emulator.wait_for(seen, timeout), f"marketing was not told {needle!r}"
    return found


def test_qualify_alert_accept_marketing_told(bot):
    lead_id = bot.qualify("ada@acme.de")
    alert = bot.alert(lead_id)
    assert alert["channel"] == EMEA
    shown = texts(alert)
    assert "New MQL" in shown and "Ada" in shown and "VP Engineering" in shown and "Acme" in shown
    assert "Grade *A*" in shown and "source webinar" in shown and "demo_request" in shown
    assert [
        e["text"]["text"] for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
    ] == ["Accept", "Reject"]
    assert alert["metadata"]["event_type"] == "leadbot_lead_qualified"
    assert validate_blocks(alert["blocks"]) == []

    reply = bot.slack.click(alert, "Accept", user="U0REP2")
    assert reply.status == 200
    lead = bot.wait_stage(lead_id, "sal")
    assert (lead.stage, lead.owner) == ("sal", "U0REP2")

    def updated():
        return "Accepted by <@U0REP2>" in texts(bot.emulator.message(alert["ts"]))

    assert bot.emulator.wait_for(updated, 5)
    edited = bot.emulator.message(alert["ts"])
    assert not any(b["type"] == "actions" for b in edited["blocks"])  # buttons replaced in place
    assert len([m for m in bot.emulator.messages(EMEA)]) == 1  # edited, not re-posted
    told = marketing_messages(bot, "accepted")
    assert "<@U0REP2>" in texts(told[0]) and "after" in texts(told[0])


def test_reject_with_reason_and_comment(bot):
    lead_id = bot.qualify("rival@competitor.de")
    alert = bot.alert(lead_id)
    click = bot.slack.click(alert, "Reject", user="U0REP1")
    assert click.status == 200
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP1"), 5)
    modal = bot.slack.views("U0REP1")[-1]
    assert validate_view(modal) == []
    reasons = [
        o["value"]
        for b in modal["blocks"]
        if b.get("block_id") == "reason"
        for o in b["element"]["options"]
    ]
    assert reasons == [
        "not_ready",
        "no_budget",
        "bad_fit",
        "competitor",
        "student",
        "spam",
        "duplicate",
        "wrong_contact",
    ]

    empty = bot.slack.submit(modal, {"comment": "no reason given"}, user="U0REP1")
    assert (
        empty.sent is False and "reason" in empty.errors
    )  # Slack refuses a required input left empty
    assert lead_row(bot, lead_id).stage == "mql"

    done = bot.slack.submit(
        modal, {"reason": "competitor", "comment": "Works for a competitor"}, user="U0REP1"
    )
    assert done.closed and not done.errors
    lead = lead_row(bot, lead_id)
    assert lead.stage == "unqualified" and lead.owner is None
    told = marketing_messages(bot, "rejected")
    shown = texts(told[0])
    assert (
        "Competitor" in shown
        and "Works for a competitor" in shown
        and "<@U0REP1>" in shown
        and "after" in shown
    )
    assert bot.emulator.wait_for(
        lambda: "Disqualified by <@U0REP1>" in texts(bot.emulator.message(alert["ts"])), 5
    )


def test_not_ready_sends_to_nurture(bot):
    lead_id = bot.qualify("later@acme.de")
    alert = bot.alert(lead_id)
    bot.slack.click(alert, "Reject", user="U0MGR1")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0MGR1"), 5)
    bot.slack.submit(bot.slack.views("U0MGR1")[-1], {"reason": "not_ready"}, user="U0MGR1")
    assert lead_row(bot, lead_id).stage == "nurture"  # a submission is handled before its ack


def test_outsider_and_other_team_are_refused(bot):
    lead_id = bot.qualify("ada2@acme.de")
    alert = bot.alert(lead_id)
    for user in ("U0OUT1", "U0REP3", "U0MKT1"):  # nobody, a rep of team na, marketing
        bot.slack.click(alert, "Accept", user=user)
        bot.slack.click(alert, "Reject", user=user)
    assert bot.emulator.wait_for(lambda: len(bot.slack.ephemerals()) >= 6, 5)
    assert all("Nothing was changed" in e.text for e in bot.slack.ephemerals())
    assert {e.user for e in bot.slack.ephemerals()} == {"U0OUT1", "U0REP3", "U0MKT1"}
    assert bot.slack.views("U0OUT1") == []
    lead = lead_row(bot, lead_id)
    assert (lead.stage, lead.owner) == ("mql", None)
    assert count(bot, StageTransition, lead_id=lead_id) == 1


def test_unrouted_lead_goes_to_marketing_and_any_rep_may_accept(bot):
    data = bot.config.model_dump(mode="json", by_alias=True)
    data["teams"][1]["route"] = {"country": ["US"]}  # nothing matches Japan now
    from core.config import parse_config

    bot.runtime.config = parse_config(data)
    lead_id = bot.qualify("taro@example.jp", country="JP")
    alert = bot.alert(lead_id)
    assert alert["channel"] == MKTG and "unrouted" in texts(alert)
    bot.slack.click(alert, "Accept", user="U0REP3")
    lead = bot.wait_stage(lead_id, "sal")
    assert (lead.stage, lead.owner, lead.team) == ("sal", "U0REP3", "na")


def test_twenty_concurrent_accepts_one_wins(bot):
    lead_id = bot.qualify("popular@acme.de")
    alert = bot.alert(lead_id)
    reps = ["U0REP1", "U0REP2", "U0MGR1"]
    barrier = threading.Barrier(20)
    statuses = []

    def click(i):
        barrier.wait()
        statuses.append(bot.slack.click(alert, "Accept", user=reps[i % 3]).status)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 20
    bot.wait_stage(lead_id, "sal")
    assert bot.emulator.wait_for(lambda: len(bot.slack.ephemerals()) == 19, 10)
    assert count(bot, StageTransition, lead_id=lead_id, to_stage="sal") == 1
    winner = lead_row(bot, lead_id).owner
    assert bot.emulator.wait_for(lambda: len(bot.slack.ephemerals()) == 19, 10)
    assert all(
        f"<@{winner}> already moved this lead to sal" in e.text for e in bot.slack.ephemerals()
    )


def test_forged_stale_and_unsigned_requests_are_401(bot):
    lead_id = bot.qualify("safe@acme.de")
    alert = bot.alert(lead_id)
    import time

    forged = bot.slack.click(alert, "Accept", user="U0REP1", signature="v0=" + "0" * 64)
    stale = bot.slack.click(alert, "Accept", user="U0REP1", timestamp=int(time.time()) - 301)
    assert (forged.status, stale.status) == (401, 401)
    unsigned = __import__("httpx").post(f"{bot.url}/slack/events", data={"payload": "{}"})
    assert unsigned.status_code == 401
    assert lead_row(bot, lead_id).stage == "mql"
    assert count(bot, StageTransition, lead_id=lead_id) == 1


def test_slack_failures_lose_nothing_and_double_nothing(bot):
    bot.slack_side.worker.stop()  # drive the outbox by hand for a deterministic run
    bot.emulator.fail_next("chat.postMessage", times=6, status=500)
    bot.emulator.fail_next("chat.postMessage", times=4, status=429, retry_after=1)
    ids = [bot.qualify(f"lead{i}@acme.de", country="DE" if i % 2 else "US") for i in range(50)]
    reports, errors = [], []
    for _ in range(10):
        reports.append(bot.slack_side.notifier.drain())
        with bot.db.transaction() as s:
            waiting = s.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))).all()
            errors += [row.last_error for row in waiting]
            for row in waiting:  # the back-off has passed
                row.next_attempt_at = bot.runtime.now()
        if not waiting:
            break
    assert sum(r.failed for r in reports) >= 1  # the client's own retries gave up at least once
    assert any("internal_error" in e for e in errors + [x for r in reports for x in r.errors])
    statuses = [c.status for c in bot.emulator.calls("chat.postMessage")]
    assert statuses.count(500) == 6 and statuses.count(429) == 4
    posted = [c for c in bot.emulator.calls("chat.postMessage") if c.ok]
    alerted = [c.args["metadata"]["event_payload"]["lead_id"] for c in posted]
    assert sorted(alerted) == sorted(ids)  # every alert exactly once: none lost, none doubled
    assert count(bot, Outbox, delivered_at=None) == 0
    assert count(bot, SlackMessage) == 50


def test_crash_between_post_and_record_does_not_repost(bot):
    bot.slack_side.worker.stop()
    lead_id = bot.qualify("crash@acme.de")
    notifier = bot.slack_side.notifier
    claimed = notifier.claim()
    posted = notifier.deliver(claimed)  # Slack has it ...
    assert posted is not None
    # ... and the process dies before succeeded(): the lease runs out, another drain picks it up.
    with bot.db.transaction() as s:
        s.get(Outbox, claimed.id).next_attempt_at = bot.runtime.now()
    report = notifier.drain()
    assert report.sent == 1
    alerts = [c for c in bot.emulator.calls("chat.postMessage") if c.ok]
    assert len(alerts) == 1
    assert [c.args.get("include_all_metadata") for c in bot.emulator.calls("conversations.history")]
    assert bot.alert(lead_id)["ts"] == posted.ts
