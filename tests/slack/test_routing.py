"""Routing to a person through the real HTTP app and the emulator, on both engines: weighted
round robin, the claim window, away (by command and by Slack status), caps, the fallback to the
team, account owners, and every owner change in the history."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.workers.scheduler import run_reminders
from core.config import parse_config
from core.models import AwayPeriod, Lead, Offer, Outbox, OwnerChange
from emulators.slack.blockkit import validate_blocks, validate_view
from tests.slack.conftest import eventually

BERLIN = ZoneInfo("Europe/Berlin")
EMEA = "C0EMEA"
# A Monday in business hours (09:00-18:00 Berlin).
MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=BERLIN)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(bot, when):
    bot.runtime.clock = Clock(when)


def use_routing(bot, reps=None, routing=None, **team):
    """The emea team routes by round robin over ``reps`` (default U0REP1, U0REP2, U0REP4)."""
    data = bot.config.model_dump(mode="json", by_alias=True)
    emea = data["teams"][0]
    emea.update(assign="round_robin", reps=reps or ["U0REP1", "U0REP2", "U0REP4"], **team)
    if routing is not None:
        data["routing"] = routing
    bot.runtime.config = parse_config(data)
    for rep in bot.runtime.config.teams[0].reps:
        if rep not in bot.emulator.workspace.users:
            bot.emulator.add_user(rep, name=rep.lower(), tz="Europe/Berlin")
    bot.slack_side.presence.forget()


def offers(bot):
    with bot.db.transaction() as s:
        return [(o.lead_id, o.rep, o.reason) for o in s.scalars(select(Offer).order_by(Offer.id))]


def offered_to(bot, lead_id):
    found = [rep for lead, rep, _ in offers(bot) if lead == lead_id]
    assert len(found) <= 1
    return found[0] if found else None


def settled(bot):
    def empty():
        with bot.db.transaction() as s:
            return s.scalars(select(Outbox.id).where(Outbox.delivered_at.is_(None))).first() is None

    assert eventually(empty, 30), "the outbox did not drain"


def texts(message):
    return " ".join(str(block) for block in message.get("blocks", []))


def dms(bot, user):
    return bot.emulator.messages(bot.emulator.dm_channel(user))


def run(bot, text, user):
    reply = bot.slack.command("/lead", text, user=user, channel=EMEA)
    assert reply.status == 200
    return (reply.text or "") + " ".join(str(b) for b in (reply.blocks or []))


def owner_history(bot, lead_id):
    with bot.db.transaction() as s:
        return [
            (c.from_owner, c.to_owner, c.actor, c.reason)
            for c in s.scalars(
                select(OwnerChange).where(OwnerChange.lead_id == lead_id).order_by(OwnerChange.id)
            )
        ]


def thread_replies(bot, alert):
    return [
        m for m in bot.emulator.replies(alert["channel"], alert["ts"]) if m["ts"] != alert["ts"]
    ]


def test_400_leads_are_offered_by_weight_within_the_bounds(bot):
    use_routing(bot, reps=[{"id": "U0REP1", "weight": 2}, "U0REP2", "U0REP4"])
    at(bot, MONDAY)
    ids = [bot.qualify(f"lead{n}@company{n}.example") for n in range(400)]
    picks = [offered_to(bot, lead_id) for lead_id in ids]
    assert None not in picks
    counts = Counter(picks)
    assert abs(counts["U0REP1"] / 400 - 0.50) <= 0.03
    assert abs(counts["U0REP2"] / 400 - 0.25) <= 0.03
    assert abs(counts["U0REP4"] / 400 - 0.25) <= 0.03
    share = {"U0REP1": 0.5, "U0REP2": 0.25, "U0REP4": 0.25}
    for start in range(len(picks) - 7):
        window = Counter(picks[start : start + 8])
        for rep, part in share.items():
            assert window[rep] <= 8 * part + 1, (start, window)
    settled(bot)
    assert len(dms(bot, "U0REP1")) == counts["U0REP1"]
    assert len(bot.emulator.messages(EMEA)) == 400


def test_offer_window_only_the_offered_rep_or_a_manager_then_the_team(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"], claim_minutes=15)
    at(bot, MONDAY)
    lead_id = bot.qualify("first@acme.example")
    alert = bot.alert(lead_id)
    assert "For <@U0REP1>" in texts(alert) and "Mon 02 Nov 10:15 Europe/Berlin" in texts(alert)
    assert validate_blocks(alert["blocks"]) == []
    settled(bot)
    dm = dms(bot, "U0REP1")
    assert len(dm) == 1 and "New MQL for you" in texts(dm[0]) and "Accept" in texts(dm[0])
    detail = bot.api.get(f"/api/v1/leads/{lead_id}").json()
    assert detail["owner"] == "U0REP1" and detail["offered_to"] == "U0REP1"
    assert datetime.fromisoformat(detail["offered_until"]) == MONDAY + timedelta(minutes=15)

    # Inside the window another rep is refused and nothing changes.
    bot.slack.click(alert, "Accept", user="U0REP2")
    assert bot.emulator.wait_for(lambda: bot.slack.ephemerals(user="U0REP2"), 5)
    refusal = bot.slack.ephemerals(user="U0REP2")[-1].text
    assert "offered to <@U0REP1> until 2026-11-02 10:15" in refusal
    assert bot.wait_stage(lead_id, "mql").owner == "U0REP1"
    # Qualifying would accept it: refused too, before any modal opens.
    bot.slack.command("/lead", f"qualify {lead_id}", user="U0REP2", channel=EMEA)
    assert bot.emulator.wait_for(lambda: len(bot.slack.ephemerals(user="U0REP2")) >= 2, 5)
    assert "offered to <@U0REP1>" in bot.slack.ephemerals(user="U0REP2")[-1].text
    assert bot.slack.views("U0REP2") == []

    # The reminders job as at 10:16 closes the window: the alert opens to the team.
    at(bot, MONDAY + timedelta(minutes=16))
    assert run_reminders(bot.runtime) == "reminders: queued 0, claim windows closed 1"
    settled(bot)
    opened = bot.emulator.message(alert["ts"])
    assert "claim window ended: open to the whole team, <@U0REP1> <@U0REP2>" in texts(opened)
    detail = bot.api.get(f"/api/v1/leads/{lead_id}").json()
    assert detail["owner"] is None and detail["offered_to"] is None
    assert run_reminders(bot.runtime) == "reminders: queued 0"  # closed once

    at(bot, MONDAY + timedelta(minutes=20))
    bot.slack.click(opened, "Accept", user="U0REP2")
    lead = bot.wait_stage(lead_id, "sal")
    assert lead.owner == "U0REP2"
    assert owner_history(bot, lead_id) == [
        (None, "U0REP1", "system", "round robin"),
        ("U0REP1", None, "system", "claim window ended"),
        (None, "U0REP2", "U0REP2", "accepted"),
    ]
    history = bot.api.get(f"/api/v1/leads/{lead_id}").json()["history"]
    owners = [(h["kind"], h["from_owner"], h["to_owner"], h["reason"]) for h in history]
    assert owners == [
        ("stage", None, None, "hand-raiser demo_request with grade A"),
        ("owner", None, "U0REP1", "round robin"),
        ("owner", "U0REP1", None, "claim window ended"),
        ("stage", None, None, "accepted"),
        ("owner", None, "U0REP2", "accepted"),
    ]
    card = run(bot, f"lookup {lead_id}", user="U0REP2")
    assert "owner <@U0REP1> → nobody by leadbot: claim window ended" in card
    assert "owner nobody → <@U0REP2> by <@U0REP2>: accepted" in card


def test_offered_rep_and_manager_may_accept_inside_the_window(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"])
    at(bot, MONDAY)
    mine = bot.qualify("mine@one.example")
    bot.slack.click(bot.alert(mine), "Accept", user="U0REP1")
    assert bot.wait_stage(mine, "sal").owner == "U0REP1"
    theirs = bot.qualify("theirs@two.example")
    assert offered_to(bot, theirs) == "U0REP2"
    bot.slack.click(bot.alert(theirs), "Accept", user="U0MGR1")
    assert bot.wait_stage(theirs, "sal").owner == "U0MGR1"
    assert owner_history(bot, mine) == [(None, "U0REP1", "system", "round robin")]
    assert owner_history(bot, theirs)[-1] == ("U0REP2", "U0MGR1", "U0MGR1", "accepted")
    settled(bot)
    with bot.db.transaction() as s:
        assert s.scalar(select(func.count()).where(Offer.closed_at.is_(None))) == 0


def test_away_by_command_until_back(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"])
    at(bot, MONDAY)
    reply = run(bot, "away until 2026-11-04 holiday", user="U0REP1")
    assert "You are away until 2026-11-04 (inclusive)" in reply
    firsts = [bot.qualify(f"a{n}@away{n}.example") for n in range(3)]
    assert [offered_to(bot, i) for i in firsts] == ["U0REP2"] * 3
    # The day after the last day away, U0REP1 is offered leads again without saying so.
    at(bot, datetime(2026, 11, 5, 9, 30, tzinfo=BERLIN))
    assert offered_to(bot, bot.qualify("thursday@t.example")) == "U0REP1"
    # A manager sets them away with no end; /lead back ends it.
    assert "<@U0REP1> is away" in run(bot, "away <@U0REP1|rep1>", user="U0MGR1")
    assert offered_to(bot, bot.qualify("x@x1.example")) == "U0REP2"
    assert offered_to(bot, bot.qualify("y@y1.example")) == "U0REP2"
    assert "You are back" in run(bot, "back", user="U0REP1")
    # U0REP2 is one ahead from the Thursday pick, then the two alternate again.
    after = [offered_to(bot, bot.qualify(f"z{n}@z{n}.example")) for n in range(3)]
    assert after == ["U0REP2", "U0REP1", "U0REP2"]
    assert "not away; nothing changed" in run(bot, "back", user="U0REP1")


def test_bad_away_commands_change_nothing(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"])
    at(bot, MONDAY)
    cases = [
        ("away until 2020-01-01", "U0REP1", "2020-01-01 is in the past (today is 2026-11-02)"),
        ("away until soon", "U0REP1", "soon is not a date like 2026-12-24"),
        ("away until 9999-12-31", "U0REP1", "9999-12-31 is too far ahead"),
        ("away until", "U0REP1", "Until when?"),
        ("away <@U0REP2>", "U0REP1", "setting someone else away or back is for managers"),
        ("back <@U0REP2>", "U0REP1", "setting someone else away or back is for managers"),
        ("away <@U0NOBODY>", "U0MGR1", "<@U0NOBODY> is not a rep or manager of any team"),
        ("away @rita", "U0MGR1", "I don't know @rita"),
        ("away", "U0MKT1", "is not a rep or manager of any team"),
        ("back extra words", "U0REP1", "Usage: `/lead back [@user]`"),
    ]
    for text, user, expected in cases:
        assert expected in run(bot, text, user=user), text
    with bot.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(AwayPeriod)) == 0


def test_away_by_slack_status_until_it_expires(bot):
    expires = MONDAY + timedelta(hours=1)
    bot.emulator.set_status("U0REP1", "Vacation", ":palm_tree:", int(expires.timestamp()))
    use_routing(bot, reps=["U0REP1", "U0REP2"], routing={"use_slack_status": True})
    at(bot, MONDAY)
    assert [offered_to(bot, bot.qualify(f"s{n}@s{n}.example")) for n in range(2)] == [
        "U0REP2",
        "U0REP2",
    ]
    assert bot.emulator.calls("users.profile.get")
    at(bot, expires + timedelta(minutes=1))  # the status has expired: no new read needed
    assert offered_to(bot, bot.qualify("later@later.example")) == "U0REP1"


def test_a_slack_error_reading_a_status_means_not_away(bot):
    bot.emulator.set_status("U0REP1", "Out of office")
    use_routing(bot, reps=["U0REP1", "U0REP2"], routing={"use_slack_status": True})
    at(bot, MONDAY)
    bot.emulator.fail_next("users.profile.get", times=2, status=500)
    assert offered_to(bot, bot.qualify("err@err.example")) == "U0REP1"


def test_a_rep_at_their_cap_is_skipped(bot):
    use_routing(bot, reps=[{"id": "U0REP1", "max_open": 1}, "U0REP2"])
    at(bot, MONDAY)
    first = bot.qualify("c1@c1.example")
    assert offered_to(bot, first) == "U0REP1"  # now owns one open lead: at the cap
    assert [offered_to(bot, bot.qualify(f"c{n}@cc{n}.example")) for n in range(2, 5)] == [
        "U0REP2"
    ] * 3
    bot.slack.click(bot.alert(first), "Reject", user="U0REP1")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP1"), 5)
    bot.slack.submit(bot.slack.views("U0REP1")[-1], {"reason": "bad_fit"}, user="U0REP1")
    bot.wait_stage(first, "unqualified")
    # Below the cap again: U0REP1 takes part (U0REP2 is still one ahead from the first pick).
    later = [offered_to(bot, bot.qualify(f"c{n}@c{n}.example")) for n in range(9, 12)]
    assert later == ["U0REP2", "U0REP1", "U0REP2"]


def test_everyone_away_falls_back_to_the_team_and_managers_are_told(bot):
    use_routing(bot, reps=["U0REP1", {"id": "U0REP2", "max_open": 1}])
    at(bot, MONDAY)
    assert offered_to(bot, bot.qualify("own@own.example")) == "U0REP1"
    run(bot, "away until 2026-11-06", user="U0REP1")
    assert offered_to(bot, bot.qualify("two@two.example")) == "U0REP2"  # now at the cap
    lead_id = bot.qualify("nobody@free.example")
    assert offered_to(bot, lead_id) is None
    alert = bot.alert(lead_id)
    assert "For <@" not in texts(alert) and "Accept" in texts(alert)
    settled(bot)
    replies = thread_replies(bot, alert)
    assert len(replies) == 1
    note = texts(replies[0])
    assert "<@U0MGR1>: no rep could be offered this lead" in note
    assert "<@U0REP1>: away until 2026-11-06" in note
    assert "<@U0REP2>: at their cap (1 open of 1)" in note
    bot.slack.click(alert, "Accept", user="U0REP2")  # claim, as before: anyone on the team
    assert bot.wait_stage(lead_id, "sal").owner == "U0REP2"


def test_account_owner_gets_the_second_lead_and_free_mail_never_matches(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"])
    at(bot, MONDAY)
    first = bot.qualify("ceo@acme.example")
    assert offered_to(bot, first) == "U0REP1"
    bot.slack.click(bot.alert(first), "Accept", user="U0REP1")
    bot.wait_stage(first, "sal")
    second = bot.qualify("cfo@ACME.example")
    with bot.db.transaction() as s:
        offer = s.scalars(select(Offer).where(Offer.lead_id == second)).one()
        assert (offer.rep, offer.reason) == ("U0REP1", "account owner")
    assert owner_history(bot, second) == [(None, "U0REP1", "system", "account owner")]
    assert "(account owner)" in texts(bot.alert(second))
    # The rotation did not move: the next stranger goes to U0REP2.
    assert offered_to(bot, bot.qualify("x@elsewhere.example")) == "U0REP2"
    gmail = [bot.qualify(f"person{n}@gmail.com") for n in range(2)]
    assert [offered_to(bot, i) for i in gmail] == ["U0REP1", "U0REP2"]
    throwaway = [bot.qualify(f"t{n}@mailinator.com") for n in range(2)]
    assert [offered_to(bot, i) for i in throwaway] == ["U0REP1", "U0REP2"]


def test_claim_teams_keep_claiming_and_match_accounts_can_be_switched_off(bot):
    at(bot, MONDAY)
    first = bot.qualify("ceo@claim.example")
    bot.slack.click(bot.alert(first), "Accept", user="U0REP2")
    bot.wait_stage(first, "sal")
    second = bot.qualify("cto@claim.example")
    assert offered_to(bot, second) is None  # the example config's emea team claims
    use_routing(bot, reps=["U0REP1", "U0REP2"], routing={"match_accounts": False})
    assert offered_to(bot, bot.qualify("coo@claim.example")) == "U0REP1"  # the rotation's pick


def test_assign_is_in_the_owner_history(bot):
    use_routing(bot, reps=["U0REP1", "U0REP2"])
    at(bot, MONDAY)
    lead_id = bot.qualify("assign@assign.example")
    reply = run(bot, f"assign {lead_id} <@U0REP2>", user="U0MGR1")
    assert "is now <@U0REP2>'s" in reply
    run(bot, f"assign {lead_id} <@U0REP1>", user="U0MGR1")  # an open SAL changes hands
    assert owner_history(bot, lead_id) == [
        (None, "U0REP1", "system", "round robin"),
        ("U0REP1", "U0REP2", "U0MGR1", "assigned by U0MGR1"),
        ("U0REP2", "U0REP1", "U0MGR1", "assigned by U0MGR1"),
    ]
    card = run(bot, f"lookup {lead_id}", user="U0MGR1")
    assert "assigned by <@U0MGR1>" in card


def test_managers_see_per_rep_stats_and_who_is_away_or_capped(bot):
    use_routing(bot, reps=["U0REP1", {"id": "U0REP2", "max_open": 1}])
    at(bot, MONDAY)
    a = bot.qualify("s1@s1.example")
    b = bot.qualify("s2@s2.example")
    at(bot, MONDAY + timedelta(minutes=6))
    bot.slack.click(bot.alert(a), "Accept", user="U0REP1")
    bot.wait_stage(a, "sal")
    assert offered_to(bot, b) == "U0REP2"
    run(bot, "away until 2026-11-20 conference", user="U0REP1")
    at(bot, MONDAY + timedelta(minutes=7))  # the window of the stats ends before now
    stats = run(bot, "stats emea 7d", user="U0MGR1")
    assert (
        "<@U0REP1> (emea): offered 1 · accepted 1 · median to accept 6 min · open now 1 · "
        "away until 2026-11-20" in stats
    )
    assert "<@U0REP2> (emea): offered 1 · accepted 0 · median to accept n/a · open now 1 of 1" in (
        stats
    )
    bot.slack.event("app_home_opened", user="U0MGR1", tab="home")
    assert bot.emulator.wait_for(lambda: bot.slack.home("U0MGR1"), 5)
    home = bot.slack.home("U0MGR1")
    assert validate_view(home) == []
    shown = str(home)
    assert "<@U0REP1>: away until 2026-11-20" in shown
    assert "<@U0REP2>: at their cap (1 open of 1)" in shown


def test_lead_on_offer_in_the_api_only_while_offered(bot):
    at(bot, MONDAY)
    lead_id = bot.qualify("claim@claimteam.example")
    detail = bot.api.get(f"/api/v1/leads/{lead_id}").json()
    assert detail["offered_to"] is None and detail["owner"] is None  # a claim team, as before
    assert [h["kind"] for h in detail["history"]] == ["stage"]
    with bot.db.transaction() as s:
        assert s.get(Lead, lead_id).owner is None
