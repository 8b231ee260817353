"""Stale-lead reminders against a real database, on both engines: business time in the team's
zone (with clock changes), once per level and stage entry, recipients, snooze."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.config import parse_config
from core.db import Database
from core.lifecycle import Stage
from core.models import Outbox, SentReminder
from core.refusals import Refused
from core.services import reminders
from core.services.stages import transition
from tests.factories import accept, make_lead

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def story(session, team, *steps):
    """A lead and its moves: (stage, actor, time); ``sal`` is the actor accepting it."""
    lead = make_lead(session, team=team, now=steps[0][2])
    for stage, actor, when in steps:
        if stage == "sal":
            accept(session, lead, actor, when)
        else:
            transition(session, lead, Stage(stage), actor=actor, now=when)
    return lead.id


def due(db, config, now):
    with db.transaction() as s:
        return [(d.lead_id, d.level) for d in reminders.due_reminders(s, config, now)]


def send(db, config, now):
    with db.transaction() as s:
        return [(d.lead_id, d.level) for d in reminders.send_reminders(s, config, now)]


def outbox(db):
    with db.transaction() as s:
        rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
        return [(r.kind, r.lead_id, r.payload) for r in rows if r.kind.startswith("reminder")]


def count(db, model):
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


# --- business time ---------------------------------------------------------------------------


def test_friday_evening_mql_is_reminded_monday_noon_not_friday_night(db, config):
    """Fri 17:00 Berlin, hours 09-18 Mon-Fri, mql_accept 4h: 1h on Friday, 3h on Monday."""
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", berlin(2026, 11, 20, 17, 0)))
    assert due(db, config, berlin(2026, 11, 20, 21, 0)) == []
    assert send(db, config, berlin(2026, 11, 23, 11, 59)) == []
    assert send(db, config, berlin(2026, 11, 23, 12, 0)) == [(lead, "mql_accept")]
    [(kind, lead_id, payload)] = outbox(db)
    assert (kind, lead_id) == ("reminder_thread", lead)
    assert payload["to"] == "C0EMEA" and payload["mentions"] == ["U0REP1", "U0REP2"]
    assert payload["due_at"] == utc(2026, 11, 23, 11, 0).isoformat()
    # mql_escalate = 8h: Friday's hour and Monday 09:00-16:00.
    assert send(db, config, berlin(2026, 11, 23, 15, 59)) == []
    assert send(db, config, berlin(2026, 11, 23, 16, 0)) == [(lead, "mql_escalate")]
    escalation = outbox(db)[-1]
    assert escalation[0] == "reminder_escalation" and escalation[2]["to"] == "U0MGR1"


def one_team(zone, **sla):
    return parse_config(
        {
            "marketing": {"channel": "C0MKTG", "members": ["U0MKT1"]},
            "teams": [
                {
                    "name": "t",
                    "channel": "C0T",
                    "timezone": zone,
                    "reps": ["U0REP1"],
                    "managers": ["U0MGR1"],
                    "route": {"default": True},
                }
            ],
            "sla": sla,
        }
    )


@pytest.mark.parametrize(
    ("zone", "stage", "entered", "level", "due_at"),
    [
        # Berlin falls back on Sun 25 Oct: Fri 16:00 CEST + 2h, then Mon 09:00 CET + 2h.
        ("Europe/Berlin", "mql", utc(2026, 10, 23, 14), "mql_accept", utc(2026, 10, 26, 10)),
        # Berlin springs forward on Sun 29 Mar: Fri 17:00 CET + 1h, then Mon 09:00 CEST + 3h.
        ("Europe/Berlin", "mql", utc(2026, 3, 27, 16), "mql_accept", utc(2026, 3, 30, 10)),
        # New York falls back on Sun 1 Nov: Fri 16:00 EDT + 2h, Mon 09:00 EST + 2h = 16:00 UTC.
        ("America/New_York", "pql", utc(2026, 10, 30, 20), "mql_accept", utc(2026, 11, 2, 16)),
        # Kolkata (+05:30, no DST): a Sunday qualification counts from Monday 09:00 IST.
        ("Asia/Kolkata", "mql", utc(2026, 11, 22, 6), "mql_accept", utc(2026, 11, 23, 7, 30)),
        # 3 business days across the Berlin change keep the wall clock: Thu 15:00 -> Tue 15:00.
        ("Europe/Berlin", "sal", utc(2026, 10, 22, 13), "sal_qualify", utc(2026, 10, 27, 14)),
        # A UTC team: 8h escalation from Fri 14:00 is Mon 13:00.
        ("UTC", "mql", utc(2026, 11, 20, 14), "mql_escalate", utc(2026, 11, 23, 13)),
    ],
)
def test_levels_come_due_in_the_teams_zone_across_clock_changes(
    db, zone, stage, entered, level, due_at
):
    config = one_team(zone, mql_accept="4h", mql_escalate="8h", sal_qualify="3d")
    with db.transaction() as s:
        steps = [("mql", "system", entered)]
        if stage == "sal":
            steps = [("mql", "system", entered - timedelta(minutes=5)), ("sal", "U0REP1", entered)]
        elif stage == "pql":
            steps = [("pql", "system", entered)]
        lead = story(s, "t", *steps)
    assert (lead, level) not in due(db, config, due_at - timedelta(seconds=1))
    assert (lead, level) in due(db, config, due_at)


def test_unrouted_leads_count_in_utc_default_hours_and_go_to_marketing_and_all_managers(db, config):
    with db.transaction() as s:
        lead = story(s, None, ("mql", "system", utc(2026, 11, 20, 17)))  # Fri 17:00 UTC
    assert send(db, config, utc(2026, 11, 23, 11, 59)) == []
    assert send(db, config, utc(2026, 11, 23, 12)) == [(lead, "mql_accept")]
    [(kind, _, payload)] = outbox(db)
    assert kind == "reminder_thread" and payload["to"] == "C0MKTG"
    assert payload["mentions"] == ["U0MKT1"]
    assert send(db, config, utc(2026, 11, 23, 16)) == [(lead, "mql_escalate")]
    assert sorted(p["to"] for k, _, p in outbox(db) if k == "reminder_escalation") == [
        "U0MGR1",
        "U0MGR2",
    ]


# --- once, and only while the lead waits ------------------------------------------------------


def test_twice_at_the_same_instant_queues_once(db, config):
    with db.transaction() as s:
        story(s, "emea", ("mql", "system", berlin(2026, 11, 20, 17)))
        story(s, "na", ("mql", "system", utc(2026, 11, 20, 15)))
    at = berlin(2026, 11, 24, 12)  # both levels of both leads are due
    assert len(send(db, config, at)) == 4
    assert send(db, config, at) == []
    assert count(db, SentReminder) == 4
    assert len(outbox(db)) == 4  # one manager per team


def test_concurrent_runs_with_separate_engines_queue_each_reminder_once(db, db_url, config):
    with db.transaction() as s:
        for n in range(10):
            story(s, "emea", ("mql", "system", berlin(2026, 11, 20, 9, n)))
    at = berlin(2026, 11, 24, 12)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run():
        other = Database(db_url)
        try:
            barrier.wait()
            with other.transaction() as s:
                results.append(len(reminders.send_reminders(s, config, at)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(results) == 20
    assert count(db, SentReminder) == 20
    assert len(outbox(db)) == 20


def test_an_accepted_lead_gets_no_mql_reminder(db, config):
    with db.transaction() as s:
        lead = story(
            s,
            "emea",
            ("mql", "system", berlin(2026, 11, 20, 17)),
            ("sal", "U0REP1", berlin(2026, 11, 20, 17, 30)),
        )
    assert send(db, config, berlin(2026, 11, 23, 12)) == []
    assert send(db, config, berlin(2026, 11, 24, 18)) == []
    # sal_qualify = 3 business days from Fri 17:30: Wed 17:30.
    assert send(db, config, berlin(2026, 11, 25, 17, 30)) == [(lead, "sal_qualify")]
    [(kind, _, payload)] = outbox(db)
    assert kind == "reminder_owner" and payload["to"] == "U0REP1"


def test_a_lead_back_in_mql_starts_a_new_stage_entry(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", berlin(2026, 11, 2, 9)))
    assert send(db, config, berlin(2026, 11, 2, 13)) == [(lead, "mql_accept")]
    with db.transaction() as s:
        from core.models import Lead

        row = s.get(Lead, lead)
        transition(s, row, Stage.NURTURE, actor="U0REP1", now=berlin(2026, 11, 2, 14))
        transition(s, row, Stage.MQL, actor="system", now=berlin(2026, 11, 3, 9))
    assert send(db, config, berlin(2026, 11, 3, 12, 59)) == []
    assert send(db, config, berlin(2026, 11, 3, 13)) == [(lead, "mql_accept")]


def test_an_owner_who_left_the_config_is_replaced_by_the_managers(db, config):
    with db.transaction() as s:
        lead = story(
            s,
            "emea",
            ("mql", "system", berlin(2026, 11, 2, 9)),
            ("sal", "U0GONE", berlin(2026, 11, 2, 10)),
        )
        sql = story(
            s,
            "na",
            ("mql", "system", utc(2026, 11, 2, 9)),
            ("sal", "U0REP3", utc(2026, 11, 2, 10)),
            ("sql", "U0REP3", utc(2026, 11, 3, 10)),
        )
    assert sorted(send(db, config, utc(2026, 11, 24, 12))) == [
        (lead, "sal_qualify"),
        (sql, "sql_opportunity"),
    ]
    sent = {(p["to"], p["instead_of"], p["stage"]) for k, _, p in outbox(db)}
    assert sent == {("U0MGR1", "U0GONE", "sal"), ("U0REP3", None, "sql")}


# --- snooze ----------------------------------------------------------------------------------


def test_snooze_postpones_the_next_reminder_by_a_business_day(db, config):
    with db.transaction() as s:
        lead = story(
            s,
            "emea",
            ("mql", "system", berlin(2026, 11, 2, 8, 30)),
            ("sal", "U0REP1", berlin(2026, 11, 2, 9)),  # Mon: due Thu 5 Nov 09:00
        )
    with db.transaction() as s:
        until = reminders.snooze(
            s, lead, actor="U0REP1", config=config, now=berlin(2026, 11, 3, 10)
        )
    assert until == berlin(2026, 11, 6, 9)
    assert send(db, config, berlin(2026, 11, 5, 9)) == []
    assert send(db, config, berlin(2026, 11, 6, 8, 59)) == []
    assert send(db, config, berlin(2026, 11, 6, 9)) == [(lead, "sal_qualify")]
    # Snoozed again once the reminder is out (Fri 16:00): one repeat on Mon 16:00, once.
    with db.transaction() as s:
        until = reminders.snooze(
            s, lead, actor="U0MGR1", config=config, now=berlin(2026, 11, 6, 16)
        )
    assert until == berlin(2026, 11, 9, 16)
    assert send(db, config, berlin(2026, 11, 9, 15, 59)) == []
    [(_, level)] = send(db, config, berlin(2026, 11, 9, 16))
    assert level.startswith("snooze:")
    assert send(db, config, berlin(2026, 11, 20, 16)) == []
    kinds = [(k, p["repeats"]) for k, _, p in outbox(db)]
    assert kinds == [("reminder_owner", "sal_qualify")] * 2


def test_snooze_twice_adds_up_and_is_refused_to_others_and_closed_leads(db, config):
    with db.transaction() as s:
        lead = story(
            s,
            "emea",
            ("mql", "system", berlin(2026, 11, 2, 8, 30)),
            ("sal", "U0REP1", berlin(2026, 11, 2, 9)),
        )
        mql = story(s, "emea", ("mql", "system", berlin(2026, 11, 2, 9)))
    now = berlin(2026, 11, 3, 10)
    with db.transaction() as s:
        reminders.snooze(s, lead, actor="U0REP1", config=config, now=now)
        assert reminders.snooze(s, lead, actor="U0REP1", config=config, now=now) == berlin(
            2026, 11, 9, 9
        )
    for actor in ("U0REP2", "U0MGR2", "U0OUT1"):
        with pytest.raises(Refused, match="owner or a manager"), db.transaction() as s:
            reminders.snooze(s, lead, actor=actor, config=config, now=now)
    # A team manager may snooze a waiting MQL: its 4h reminder (Mon 13:00) moves to Tue 13:00,
    # and the 8h escalation (Mon 17:00) waits for the snooze too.
    with db.transaction() as s:
        assert reminders.snooze(
            s, mql, actor="U0MGR1", config=config, now=berlin(2026, 11, 2, 10)
        ) == berlin(2026, 11, 3, 13)
    assert send(db, config, berlin(2026, 11, 2, 17)) == []
    assert sorted(send(db, config, berlin(2026, 11, 3, 13))) == [
        (mql, "mql_accept"),
        (mql, "mql_escalate"),
    ]
    with db.transaction() as s:
        from core.models import Lead

        transition(s, s.get(Lead, lead), Stage.NURTURE, actor="U0REP1", now=now)
    with pytest.raises(Refused, match="nurture now"), db.transaction() as s:
        reminders.snooze(s, lead, actor="U0REP1", config=config, now=now)
