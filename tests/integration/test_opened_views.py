"""Records of opened forms are kept a week, then pruned by the daily job."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.workers.scheduler import run_prune
from core.models import OpenedView
from core.schemas import LeadIn
from core.services import opened_views
from core.services.intake import upsert_lead

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_forms_older_than_a_week_are_forgotten(db, config, runtime, clock):
    with db.transaction() as session:
        lead, _, _ = upsert_lead(session, LeadIn(email="ada@acme.de"), config=config, now=NOW)
        for nonce, age in (("old", timedelta(days=8)), ("new", timedelta(days=6))):
            opened_views.record(
                session,
                nonce=nonce,
                callback_id="reject",
                user="U0REP1",
                lead_id=lead.id,
                now=NOW - age,
            )
            opened_views.opened(session, nonce, f"V{nonce}")
    clock.now = NOW
    assert run_prune(runtime).startswith("prune: 1 old form record(s) forgotten;")
    with db.transaction() as session:
        assert session.scalars(select(OpenedView.nonce)).all() == ["new"]
        view = {"external_id": "new", "id": "Vnew", "callback_id": "reject"}
        assert opened_views.use(session, view, user="U0REP1", now=NOW) == lead.id
        with pytest.raises(opened_views.FormRefused, match="not opened by leadbot"):
            opened_views.use(
                session, {**view, "external_id": "old", "id": "Vold"}, user="U0REP1", now=NOW
            )
    assert run_prune(runtime).startswith("prune: 0 old form record(s) forgotten;")
