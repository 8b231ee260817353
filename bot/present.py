"""From database rows to the plain values the Block Kit builders in bot/views take."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.views import ids
from bot.views.alerts import LeadCard
from bot.views.cards import HistoryLine, LeadDetails
from core import access
from core.config import WorkspaceConfig
from core.lifecycle import OPEN, QUALIFIED, Stage
from core.models import Lead
from core.services import leads as lead_queries
from core.services.handoff import stage_entry


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
    )


def actions_for(config: WorkspaceConfig, viewer: str, lead: Lead) -> list[tuple[str, str]]:
    """The buttons ``viewer`` may use on ``lead`` now."""
    stage = Stage(lead.stage)
    works = access.can_work_lead(config, viewer, lead.owner, lead.team)
    handles = access.can_handle_alert(config, viewer, lead.team)
    manager = (
        access.is_team_manager(config, viewer, lead.team)
        if lead.team
        else config.is_manager(viewer)
    )
    buttons: list[tuple[str, str]] = []
    if stage in QUALIFIED and handles:
        buttons += [(ids.ACCEPT, "Accept"), (ids.REJECT, "Reject"), (ids.QUALIFY, "Qualify")]
    if stage is Stage.SAL and works:
        buttons.append((ids.QUALIFY, "Qualify"))
    if stage is Stage.SQL and works:
        buttons.append((ids.OPPORTUNITY, "Opportunity"))
    if stage in OPEN and stage not in QUALIFIED and works:
        buttons.append((ids.NURTURE, "Nurture"))
    if stage in OPEN and manager:
        buttons.append((ids.ASSIGN, "Assign"))
    return buttons


def details_of(session: Session, lead: Lead, viewer: str, config: WorkspaceConfig) -> LeadDetails:
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
        card=card_of(lead),
        owner=lead.owner,
        stage_since=entry.at if entry else lead.stage_changed_at,
        history=history,
        bant={
            "budget": bant.budget,
            "budget_amount": bant.budget_amount,
            "authority": bant.authority,
            "need": bant.need,
            "timeline": bant.timeline,
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
    )
