"""From database rows to the plain values the Block Kit builders in bot/views take."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.views import ids
from bot.views.alerts import LeadCard
from bot.views.cards import HistoryLine, LeadDetails
from core import access
from core.access import Action
from core.config import WorkspaceConfig
from core.models import Lead
from core.services import leads as lead_queries
from core.services import learning, qualification
from core.services.leads import stage_entry


def card_of(lead: Lead) -> LeadCard:
    return LeadCard(
        id=lead.id,
        email=lead.email,
        name=lead.full_name,
        title=lead.title,
        company=lead.company,
        company_size=lead.company_size,
        country=lead.country,
        source=lead.source,
        stage=lead.stage,
        team=lead.team,
        grade=lead.grade,
        fit=lead.fit,
        engagement=lead.engagement,
        product=lead.product,
        reasons=lead.score_reasons or [],
        crm=lead_queries.crm_link(lead),
    )


def likely_card(session: Session, lead: Lead, config: WorkspaceConfig, now: datetime) -> LeadCard:
    """The card with the lead's learned likelihood and its top three reasons, when a model is
    active and ``[scoring.model] use`` is not "off"."""
    card = card_of(lead)
    found = learning.likelihood_of(session, lead, config, now)
    if found is not None:
        card.likelihood = {
            "probability": found.probability,
            "model": found.version,
            "goal": config.scoring.model.positive_stage,
            "reasons": found.reasons(3),
        }
    return card


#: Every button a lead card may show, in the order it shows them.
BUTTONS: tuple[tuple[Action, str, str], ...] = (
    (Action.ACCEPT, ids.ACCEPT, "Accept"),
    (Action.REJECT, ids.REJECT, "Reject"),
    (Action.QUALIFY, ids.QUALIFY, "Qualify"),
    (Action.OPPORTUNITY, ids.OPPORTUNITY, "Opportunity"),
    (Action.NURTURE, ids.NURTURE, "Nurture"),
    (Action.ASSIGN, ids.ASSIGN, "Assign"),
)


def actions_for(config: WorkspaceConfig, viewer: str, lead: Lead) -> list[tuple[str, str]]:
    """The buttons ``viewer`` may use on ``lead`` now."""
    return [
        (action_id, label)
        for action, action_id, label in BUTTONS
        if access.offered(action, config, viewer, lead)
    ]


def details_of(
    session: Session,
    lead: Lead,
    viewer: str,
    config: WorkspaceConfig,
    now: datetime | None = None,
) -> LeadDetails:
    entry = stage_entry(session, lead)
    history = [
        HistoryLine(
            h["from_stage"],
            h["to_stage"],
            h["actor"],
            h["reason"],
            h["at"],
            (h["from_owner"], h["to_owner"]) if h["kind"] == "owner" else None,
        )
        for h in lead_queries.full_history(session, lead.id)
    ]
    bant = lead_queries.latest_qualification(session, lead.id)
    opportunity = lead_queries.opportunity_of(session, lead.id)
    return LeadDetails(
        card=card_of(lead) if now is None else likely_card(session, lead, config, now),
        owner=lead.owner,
        stage_since=entry.at if entry else lead.stage_changed_at,
        history=history,
        bant={
            **{name: getattr(bant, name) for name in qualification.FIELDS},
            "met": bant.met,
            "actor": bant.actor,
        }
        if bant
        else None,
        opportunity={
            "name": opportunity.name,
            "amount": opportunity.amount,
            "currency": opportunity.currency,
            "close_date": opportunity.close_date,
        }
        if opportunity
        else None,
        actions=actions_for(config, viewer, lead),
        people=access.people(config),
    )
