"""Retention (``[privacy]``), run by the daily ``prune`` job: raw events older than
``events_days`` are folded into their lead's score and deleted (the engagement stays what it
was, and decays on as the events would have); leads unqualified or in nurture for longer than
their setting are anonymized like an erase, without suppression (the address may come back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.config import WorkspaceConfig
from core.lifecycle import Stage
from core.models import Event, Lead
from core.scoring import decay
from core.services import privacy


@dataclass
class Pruned:
    events: int = 0
    leads_folded: int = 0
    unqualified: int = 0
    nurture: int = 0
    slack_messages: int = 0

    def summary(self) -> str:
        return (
            f"{self.events} raw event(s) folded into {self.leads_folded} lead(s)' scores and "
            f"deleted; anonymized {self.unqualified} unqualified and {self.nurture} nurture "
            f"lead(s) ({self.slack_messages} Slack message(s) queued to be rewritten)"
        )


def fold_old_events(session: Session, config: WorkspaceConfig, now: datetime) -> tuple[int, int]:
    """Fold and delete the events older than ``events_days``; (events, leads)."""
    cutoff = now - timedelta(days=config.privacy.events_days)
    scoring = config.scoring
    lead_ids = sorted(
        set(session.scalars(select(Event.lead_id).where(Event.occurred_at < cutoff).distinct()))
    )
    deleted = 0
    for lead_id in lead_ids:
        lead = session.scalars(select(Lead).where(Lead.id == lead_id).with_for_update()).one()
        old = session.execute(
            select(Event.type, Event.occurred_at).where(
                Event.lead_id == lead_id, Event.occurred_at < cutoff
            )
        ).all()
        half_life = scoring.half_life_days
        engagement = sum(
            decay(scoring.events.get(kind, 0), now - at, half_life) for kind, at in old
        )
        product = sum(
            decay(scoring.product_events.get(kind, 0), now - at, half_life) for kind, at in old
        )
        if lead.folded_at is not None:  # an earlier fold, decayed to now
            engagement += decay(lead.folded_engagement or 0.0, now - lead.folded_at, half_life)
            product += decay(lead.folded_product or 0.0, now - lead.folded_at, half_life)
        lead.folded_at, lead.folded_engagement, lead.folded_product = now, engagement, product
        result = session.execute(
            delete(Event).where(Event.lead_id == lead_id, Event.occurred_at < cutoff)
        )
        deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.flush()
    return deleted, len(lead_ids)


def anonymize_stale(
    session: Session, config: WorkspaceConfig, now: datetime, stage: Stage, days: int
) -> tuple[int, int]:
    """Anonymize the leads in ``stage`` for more than ``days``; (leads, Slack messages)."""
    cutoff = now - timedelta(days=days)
    leads = session.scalars(
        select(Lead)
        .where(
            Lead.stage == stage.value,
            Lead.stage_changed_at < cutoff,
            Lead.erased_at.is_(None),
        )
        .order_by(Lead.id)
        .with_for_update()
    ).all()
    messages = 0
    for lead in leads:
        done = privacy.erase(
            session,
            lead,
            config=config,
            actor="system",
            reason=f"retention: {stage.value} for more than {days} days",
            now=now,
            suppress_email=False,
        )
        messages += done.slack_messages
    return len(leads), messages


def prune(session: Session, config: WorkspaceConfig, now: datetime) -> Pruned:
    report = Pruned()
    report.events, report.leads_folded = fold_old_events(session, config, now)
    settings = config.privacy
    report.unqualified, unqualified_messages = anonymize_stale(
        session, config, now, Stage.UNQUALIFIED, settings.anonymize_unqualified_days
    )
    report.nurture, nurture_messages = anonymize_stale(
        session, config, now, Stage.NURTURE, settings.anonymize_nurture_days
    )
    report.slack_messages = unqualified_messages + nurture_messages
    return report
