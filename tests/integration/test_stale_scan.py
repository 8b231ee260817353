"""The stale scan skips, in SQL, stage entries that can have nothing more due: every level of
the stage sent and no snooze. On both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.lifecycle import Stage
from core.models import Lead, ReminderSnooze, SentReminder
from core.services.reminders import _open_entries, due_reminders
from core.services.stages import latest_transition, transition
from tests.factories import story

ENTERED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = ENTERED + timedelta(days=20)


def remind(session, lead_id, *levels):
    entry = latest_transition(session, lead_id)
    for level in levels:
        session.add(
            SentReminder(lead_id=lead_id, transition_id=entry.id, level=level, sent_at=ENTERED)
        )
    session.flush()
    return entry


def scanned(session, config):
    return sorted(item.lead_id for item in _open_entries(session, config, NOW))


def test_fully_reminded_entries_are_not_loaded(db, config):
    with db.transaction() as s:
        done = story(s, "emea", ("mql", "system", ENTERED))
        remind(s, done, "mql_accept", "mql_escalate")
        half = story(s, "emea", ("mql", "system", ENTERED))
        remind(s, half, "mql_accept")
        owned = story(s, "emea", ("mql", "system", ENTERED), ("sal", "U0REP1", ENTERED))
        remind(s, owned, "sal_qualify")
        snoozed = story(s, "emea", ("mql", "system", ENTERED))
        entry = remind(s, snoozed, "mql_accept", "mql_escalate")
        s.add(
            ReminderSnooze(
                lead_id=snoozed,
                transition_id=entry.id,
                until=NOW - timedelta(hours=1),
                actor="U0MGR1",
                created_at=ENTERED,
            )
        )
        s.flush()
        assert scanned(s, config) == sorted([half, snoozed])
        due = {(d.lead_id, d.level) for d in due_reminders(s, config, NOW)}
    assert (half, "mql_escalate") in due
    assert any(lead == snoozed and level.startswith("snooze:") for lead, level in due)
    assert not any(lead in (done, owned) for lead, _ in due)


def test_a_new_stage_entry_is_scanned_again(db, config):
    with db.transaction() as s:
        lead = story(s, "emea", ("mql", "system", ENTERED))
        remind(s, lead, "mql_accept", "mql_escalate")
        assert scanned(s, config) == []
    with db.transaction() as s:
        transition(s, s.get(Lead, lead), Stage.SAL, actor="U0REP1", now=ENTERED + timedelta(days=1))
        assert scanned(s, config) == [lead]
