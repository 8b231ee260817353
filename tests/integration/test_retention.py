"""Retention on both engines: exactly the events older than events_days are folded and deleted
(the engagement stays what it was, now and later), and exactly the leads unqualified or in
nurture for longer than their setting are anonymized, without suppression."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.workers.scheduler import run_prune
from core.models import Event, Lead, PrivacyAudit
from core.schemas import LeadIn
from core.services import intake, privacy, retention
from tests.factories import make_lead, story


def add_events(session, lead, now, ages):
    for kind, days in ages:
        at = now - timedelta(days=days)
        session.add(
            Event(lead_id=lead.id, type=kind, occurred_at=at, received_at=at, properties={"p": 1})
        )
    session.flush()


def test_old_events_are_folded_into_the_score_and_deleted(db, config, runtime, clock):
    now = clock()
    later = now + timedelta(days=45)
    with db.transaction() as s:
        lead = make_lead(s, now=now - timedelta(days=600))
        add_events(
            s,
            lead,
            now,
            [
                ("demo_request", 500),
                ("pricing_page_view", 401),
                ("email_click", 399),
                ("page_view", 3),
            ],
        )
        intake.rescore(s, lead, config=config, now=now)
        before, lead_id = lead.engagement, lead.id
    assert config.privacy.events_days == 400  # the default
    with db.transaction() as s:
        folded, leads = retention.fold_old_events(s, config, now)
        assert (folded, leads) == (2, 1)
    with db.transaction() as s:
        kept = s.scalars(
            select(Event.type).where(Event.lead_id == lead_id).order_by(Event.id)
        ).all()
        assert kept == ["email_click", "page_view"]
        lead = s.get(Lead, lead_id)
        intake.rescore(s, lead, config=config, now=now)
        assert lead.engagement == pytest.approx(before, rel=1e-9)
        intake.rescore(s, lead, config=config, now=later)
        after_later = lead.engagement
        assert any("folded" in r["rule"] for r in lead.score_reasons)
    # A twin that kept all its events: the yardstick for what the engagement must be later.
    with db.transaction() as s:
        twin = make_lead(s, now=now - timedelta(days=600))
        add_events(
            s,
            twin,
            now,
            [
                ("demo_request", 500),
                ("pricing_page_view", 401),
                ("email_click", 399),
                ("page_view", 3),
            ],
        )
        intake.rescore(s, twin, config=config, now=later)
        assert after_later == pytest.approx(twin.engagement, rel=1e-9)
    # Again: only the twin's old events are left to fold; the lead's were done.
    with db.transaction() as s:
        assert retention.fold_old_events(s, config, now) == (2, 1)


def test_leads_that_went_nowhere_are_anonymized_exactly_by_the_settings(db, config, runtime, clock):
    now = clock()
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    with db.transaction() as s:
        cases = {
            "unqualified_old": story(
                s,
                "emea",
                ("mql", "system", ago(400)),
                ("unqualified", "U0REP1", ago(366), "Bad fit"),
            ),
            "unqualified_new": story(
                s,
                "emea",
                ("mql", "system", ago(400)),
                ("unqualified", "U0REP1", ago(364), "Bad fit"),
            ),
            "nurture_old": story(
                s,
                "emea",
                ("mql", "system", ago(800)),
                ("nurture", "U0REP1", ago(731), "Not ready yet"),
            ),
            "nurture_new": story(
                s,
                "emea",
                ("mql", "system", ago(800)),
                ("nurture", "U0REP1", ago(729), "Not ready yet"),
            ),
            "mql_old": story(s, "emea", ("mql", "system", ago(1000))),
        }
        emails = {name: s.get(Lead, lead_id).email for name, lead_id in cases.items()}
    line = run_prune(runtime)
    assert "anonymized 1 unqualified and 1 nurture lead(s)" in line
    with db.transaction() as s:
        erased = {name for name, lead_id in cases.items() if s.get(Lead, lead_id).erased_at}
        assert erased == {"unqualified_old", "nurture_old"}
        assert s.get(Lead, cases["unqualified_old"]).first_name is None
        assert s.get(Lead, cases["unqualified_new"]).first_name == "Ada"
        audits = s.scalars(select(PrivacyAudit.action)).all()
        assert sorted(audits) == ["anonymize", "anonymize"]
        # Anonymized, not suppressed: the address may come back as a new lead.
        assert not privacy.is_suppressed(s, emails["unqualified_old"])
        _, outcome, _ = intake.upsert_lead(
            s, LeadIn(email=emails["unqualified_old"]), config=config, now=now
        )
        assert outcome == "created"
    assert "anonymized 0 unqualified and 0 nurture" in run_prune(runtime)
