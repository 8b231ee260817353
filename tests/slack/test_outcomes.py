"""Marketing told which sources, campaigns and rules misfire: `/lead stats` on a seeded history
and the digest's weekly lines after verdicts given by clicking in Slack, through the real app
and the emulator, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.workers.scheduler import run_digest
from emulators.slack.blockkit import validate_blocks
from tests.histories import UNTIL, expected_groups, expected_rules, seed_history
from tests.slack.test_reminders import MKTG, at, job, settled, texts


def text_of(block):
    if "text" in block:
        return block["text"]["text"]
    return " ".join(element.get("text", "") for element in block.get("elements", []))


def stats(bot, text, user="U0MKT1"):
    reply = bot.slack.command("/lead", text, user=user, channel=MKTG)
    assert reply.status == 200
    assert validate_blocks(reply.blocks) == []
    return {block.get("block_id"): text_of(block) for block in reply.blocks}


def test_stats_by_source_campaign_and_rule_on_a_seeded_history(bot):
    with bot.db.transaction() as s:
        history = seed_history(s)
    at(bot, UNTIL)
    shown = stats(bot, "stats 30d")
    sources = expected_groups(history.handoffs, "source")
    webinar = sources["webinar"]
    accepted, decided = webinar["accepted"]
    sql, total = webinar["sql"]
    assert (
        f"*webinar*: {webinar['handoffs']} qualified · accepted {accepted} of {decided} "
        f"({accepted / decided:.0%}) · SQL {sql} of {total} ({sql / total:.0%})"
    ) in shown["sources"]
    assert "_no source_" in shown["sources"] and "_no campaign_" in shown["campaigns"]
    spring = expected_groups(history.handoffs, "campaign")["spring"]
    assert f"*spring*: {spring['handoffs']} qualified" in shown["campaigns"]
    bad, with_verdict = expected_rules(history.handoffs)["title contains 'student'"]
    rules = shown["rules"]
    assert f"• title contains 'student': {bad} of {with_verdict} " in rules
    # The planted misfire is listed first, with its lift against the average.
    first = rules.split("• ")[1]
    assert first.startswith("title contains 'student'") and "x the average" in first
    assert "too few to say" in shown["outcomes_help"]

    team = stats(bot, "stats emea 30d", user="U0MGR1")
    emea = [h for h in history.handoffs if h.team == "emea"]
    webinar_emea = expected_groups(emea, "source")["webinar"]
    assert f"*webinar*: {webinar_emea['handoffs']} qualified" in team["sources"]


def test_stats_show_small_counts_as_counts(bot):
    at(bot, datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    lead_id = bot.qualify("single@acme.de", source="podcast", title="VP Student Affairs")
    bot.slack.click(bot.alert(lead_id), "Reject", user="U0REP1")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP1"), 5)
    bot.slack.submit(bot.slack.views("U0REP1")[-1], {"reason": "bad_fit"}, user="U0REP1")
    bot.wait_stage(lead_id, "unqualified")
    at(bot, datetime(2026, 11, 22, 10, 1, tzinfo=UTC))
    shown = stats(bot, "stats 7d")
    assert (
        "*podcast*: 1 qualified · accepted 0 of 1 · SQL 0 of 1 · rejected: Bad fit 1"
        in (shown["sources"])
    )
    assert "title contains 'student': 1 of 1 rejected as Bad fit" in shown["rules"]
    assert "%" not in shown["sources"] + shown["rules"]


def verdict(bot, email, *, accept, **profile):
    lead_id = bot.qualify(email, **profile)
    alert = bot.alert(lead_id)
    if accept:
        bot.slack.click(alert, "Accept", user="U0REP1")
        bot.wait_stage(lead_id, "sal")
        return
    bot.slack.click(alert, "Reject", user="U0REP2")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP2"), 5)
    bot.slack.submit(bot.slack.views("U0REP2")[-1], {"reason": "bad_fit"}, user="U0REP2")
    bot.wait_stage(lead_id, "unqualified")


def test_digest_names_the_worst_rule_and_the_best_and_worst_source(bot):
    at(bot, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    # Webinar leads from directors are all accepted; purchased-list leads are often "Head of
    # Growth" that sales rejects as a bad fit.
    for n in range(6):
        verdict(bot, f"web{n}@acme.de", accept=True, source="webinar", title="Director IT")
    for n in range(6):
        verdict(bot, f"list{n}@acme.de", accept=n >= 4, source="list", title="Head of Growth")
    settled(bot)
    at(bot, datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    before = len(bot.emulator.messages(MKTG))
    assert job(bot, run_digest) == "digest: queued for 2026-11-20"
    digest = bot.emulator.messages(MKTG)[before]
    assert validate_blocks(digest["blocks"]) == []
    shown = texts(digest)
    assert (
        "*Worst rule this week*: title contains 'head of': 4 of 6 rejected as Bad fit, "
        "against 3 in 10 overall"
    ) in shown
    assert "*Best source*: webinar, 6 of 6 accepted · *worst*: list, 2 of 6 accepted" in shown


def test_digest_says_nothing_about_a_week_with_too_few_verdicts(bot):
    at(bot, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    for n in range(3):
        verdict(bot, f"few{n}@acme.de", accept=n == 0, source="list", title="Head of Growth")
    settled(bot)
    at(bot, datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    before = len(bot.emulator.messages(MKTG))
    job(bot, run_digest)
    shown = texts(bot.emulator.messages(MKTG)[before])
    assert "Lead handoff" in shown and "Worst rule" not in shown and "Best source" not in shown
