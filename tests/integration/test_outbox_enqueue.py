"""enqueue on both engines: rows keep the order they were enqueued in, and a message with a
dedupe key is recorded once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.messages import AlertRefresh, AssignedDm, Digest, enqueue
from core.models import Outbox
from tests.factories import make_lead

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def digest(day: str) -> Digest:
    return Digest(day, "s", "u", 0, 0, 0, 0, (), None, 0, 0, (), {"days": 30})


def test_a_message_with_a_dedupe_key_is_recorded_once(db):
    with db.transaction() as s:
        assert enqueue(s, digest("2026-11-15"), now=NOW) is True
        assert enqueue(s, digest("2026-11-15"), now=NOW) is False
    with db.transaction() as s:
        assert enqueue(s, digest("2026-11-15"), now=NOW) is False
        assert enqueue(s, digest("2026-11-16"), now=NOW) is True
        rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
    assert [(r.kind, r.dedupe_key, r.lead_id) for r in rows] == [
        ("digest", "digest:2026-11-15", None),
        ("digest", "digest:2026-11-16", None),
    ]


def test_rows_keep_the_order_they_were_enqueued_in(db):
    with db.transaction() as s:
        lead = make_lead(s)
        enqueue(s, AlertRefresh(lead.id), now=NOW)
        enqueue(s, digest("2026-11-15"), now=NOW)
        enqueue(s, AssignedDm(lead.id, owner="U0REP1", actor="U0MGR1"), now=NOW)
        rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
    assert [r.kind for r in rows] == ["alert_refresh", "digest", "assigned_dm"]
    assert rows[2].payload == {"owner": "U0REP1", "actor": "U0MGR1"}
