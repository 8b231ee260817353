"""The stale scan reads only the leads whose stored ``next_reminder_at`` has come; the column is
kept by stage changes, snoozes and runs, and a config change makes one run recompute every open
lead. The column only narrows which leads are examined: sent_reminders still decides. On both
engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.config import Sla
from core.lifecycle import Stage
from core.models import Lead, ReminderBasis
from core.services import reminders
from core.services.reminders import _entries, _scan, _store_next
from core.services.stages import transition
from tests.factories import accept, make_lead, story

BERLIN = ZoneInfo("Europe/Berlin")
FRI_17 = datetime(2026, 11, 20, 17, 0, tzinfo=BERLIN)  # emea: 09-18 Mon-Fri, 4h then 8h
MON_12 = datetime(2026, 11, 23, 12, 0, tzinfo=BERLIN)  # mql_accept due (1h Fri + 3h Mon)
MON_16 = datetime(2026, 11, 23, 16, 0, tzinfo=BERLIN)  # mql_escalate due


def stored(db, lead_id):
    with db.transaction() as s:
        return s.scalar(select(Lead.next_reminder_at).where(Lead.id == lead_id))


def send(db, config, now):
    with db.transaction() as s:
        return [(d.lead_id, d.level) for d in reminders.send_reminders(s, config, now)]


def examined(db, now):
    with db.transaction() as s:
        return [item.lead_id for item in _entries(s, now, full=False)]


def set_stored(db, lead_id, at):
    with db.transaction() as s:
        s.get(Lead, lead_id).next_reminder_at = at


def test_a_stage_entry_sets_the_time_and_a_closed_stage_clears_it(db):
    with db.transaction() as s:
        lead = make_lead(s, team="emea", now=FRI_17)
        assert lead.next_reminder_at is None  # a plain lead has no reminders
        transition(s, lead, Stage.MQL, actor="system", now=FRI_17)
        lead_id = lead.id
    assert stored(db, lead_id) == FRI_17
    with db.transaction() as s:
        accept(s, s.get(Lead, lead_id), "U0REP1", MON_12)
    assert stored(db, lead_id) == MON_12
    with db.transaction() as s:
        transition(s, s.get(Lead, lead_id), Stage.NURTURE, actor="U0REP1", now=MON_16)
    assert stored(db, lead_id) is None


def test_each_run_stores_the_next_time_and_reads_only_leads_whose_time_has_come(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", FRI_17))
    assert send(db, config, FRI_17 + timedelta(hours=4)) == []  # Friday night: not due
    assert stored(db, lead) == MON_12
    # The column says Monday noon: not examined, and not reminded, a minute before.
    assert examined(db, MON_12 - timedelta(minutes=1)) == []
    assert send(db, config, MON_12 - timedelta(minutes=1)) == []
    assert examined(db, MON_12) == [lead]
    assert send(db, config, MON_12) == [(lead, "mql_accept")]
    assert stored(db, lead) == MON_16
    assert send(db, config, MON_12) == []  # a second run at the same instant queues nothing
    assert send(db, config, MON_16) == [(lead, "mql_escalate")]
    assert stored(db, lead) is None  # every level went out: never read again
    assert examined(db, MON_16 + timedelta(days=400)) == []
    assert send(db, config, MON_16 + timedelta(days=400)) == []


def test_a_time_stored_too_late_only_delays_the_check_and_never_sends_twice(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", FRI_17))
    later = MON_12 + timedelta(hours=1)
    set_stored(db, lead, later)  # wrong: mql_accept is due at noon
    assert send(db, config, MON_12) == []
    with db.transaction() as s:
        [due] = reminders.send_reminders(s, config, later)
    assert (due.level, due.due_at) == ("mql_accept", MON_12.astimezone(UTC))
    set_stored(db, lead, MON_12)  # too early, after the level was sent
    assert send(db, config, MON_12) == []
    assert stored(db, lead) == MON_16


def test_a_snooze_stores_its_end(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", FRI_17))
    assert send(db, config, MON_12) == [(lead, "mql_accept")]
    with db.transaction() as s:
        until = reminders.snooze(s, lead, actor="U0MGR1", config=config, now=MON_12)
    assert until == datetime(2026, 11, 24, 16, 0, tzinfo=BERLIN)  # the escalation, a day later
    assert stored(db, lead) == until
    assert send(db, config, MON_16) == []
    assert send(db, config, until) == [(lead, "mql_escalate")]


def test_a_lead_changed_since_the_run_read_it_keeps_the_time_its_change_wrote(db, config):
    with db.transaction() as s:
        moved = story(s, "emea", ("mql", "system", FRI_17))
        snoozed = story(s, "emea", ("mql", "system", FRI_17))
    with db.transaction() as s:
        scan = _scan(s, config, MON_12, full=False)
        assert sorted(item.lead_id for item, _ in scan.next_at) == [moved, snoozed]
    # Meanwhile (another transaction): one lead is accepted, the other snoozed.
    with db.transaction() as s:
        accept(s, s.get(Lead, moved), "U0REP1", MON_12)
        until = reminders.snooze(s, snoozed, actor="U0MGR1", config=config, now=MON_12)
    with db.transaction() as s:
        _store_next(s, scan.next_at)
    assert stored(db, moved) == MON_12.astimezone(UTC)
    assert stored(db, snoozed) == until


def test_a_lead_open_without_its_stage_entry_is_examined_once(db, config):
    with db.transaction() as s:
        lead = make_lead(s, team="emea", stage="mql", now=FRI_17, next_reminder_at=FRI_17).id
    assert send(db, config, MON_12) == []
    assert stored(db, lead) is None
    assert examined(db, MON_12) == []


def test_a_config_change_makes_one_run_recompute_every_open_lead(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", FRI_17))
        sal = story(s, "na", ("mql", "system", FRI_17), ("sal", "U0REP3", FRI_17))
    assert send(db, config, FRI_17 + timedelta(minutes=5)) == []
    assert stored(db, lead) == MON_12
    # Faster SLA: the reminder is due at Friday's closing, before the stored Monday noon.
    faster = config.model_copy(update={"sla": Sla(mql_accept="1h", sal_qualify="1d")})
    closing = datetime(2026, 11, 20, 18, 0, tzinfo=BERLIN)
    assert examined(db, closing) == []  # the stored times alone would miss it
    with db.transaction() as s:
        assert {d.lead_id for d in reminders.due_reminders(s, faster, closing)} == {lead}
    assert send(db, faster, closing) == [(lead, "mql_accept")]
    with db.transaction() as s:
        basis = s.get(ReminderBasis, 1)
        assert basis.fingerprint == reminders.schedule_fingerprint(faster)
    assert stored(db, sal) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # na: UTC, 1 day
    assert stored(db, lead) == MON_16  # the 8h escalation
    # Recomputed once: the next run with the same config reads only what has come due.
    assert send(db, faster, closing + timedelta(minutes=5)) == []
    # The old config again (say, a process not yet restarted): its times are recomputed too.
    with db.transaction() as s:
        assert reminders.due_reminders(s, config, closing) == []
    send(db, config, closing)
    assert stored(db, sal) == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 3 days again


def test_the_fingerprint_follows_sla_and_hours_but_not_membership(config):
    same = reminders.schedule_fingerprint(config)
    emea, na = config.teams
    more_reps = config.model_copy(
        update={"teams": [emea.model_copy(update={"managers": ["U0MGR9"]}), na]}
    )
    assert reminders.schedule_fingerprint(more_reps) == same
    berlin_na = na.model_copy(update={"timezone": "Europe/Berlin"})
    hours = emea.business_hours.model_copy(update={"days": ["mon", "tue"]})
    changed = [
        config.model_copy(update={"sla": Sla(sql_opportunity="10d")}),
        config.model_copy(update={"teams": [emea, berlin_na]}),
        config.model_copy(
            update={"teams": [emea.model_copy(update={"business_hours": hours}), na]}
        ),
        config.model_copy(update={"teams": [emea]}),  # na's leads fall back to default hours
    ]
    assert len({reminders.schedule_fingerprint(c) for c in changed} | {same}) == 5
