"""Reading leads: the API's Lead-out, with history, latest BANT answers and opportunity."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.lifecycle import QUALIFIED, Stage
from core.models import Lead, Offer, Opportunity, OwnerChange, Qualification, StageTransition
from core.refusals import ErasedLead, UnknownLead
from core.schemas import LeadDetail, LeadOut, LeadPage

MAX_PAGE = 200


class BadCursor(ValueError):
    pass


#: The lead fields that describe the person (what scoring and learning read).
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "title",
    "company",
    "company_size",
    "industry",
    "country",
    "phone",
    "source",
    "campaign",
)


def profile_of(lead: Lead) -> dict[str, Any]:
    values = {name: getattr(lead, name) for name in PROFILE_FIELDS}
    values["properties"] = lead.properties or {}
    return values


def get_lead(session: Session, lead_id: int, *, lock: bool = False) -> Lead:
    """The lead (locked for update with ``lock``); :class:`UnknownLead` if there is none."""
    query = select(Lead).where(Lead.id == lead_id)
    lead = session.scalars(query.with_for_update() if lock else query).first()
    if lead is None:
        raise UnknownLead(f"There is no lead with id {lead_id}.")
    if lead.erased_at is not None:
        raise ErasedLead(lead.id, lead.erased_at)
    return lead


def owner_history(session: Session, lead_id: int) -> list[OwnerChange]:
    return list(
        session.scalars(
            select(OwnerChange)
            .where(OwnerChange.lead_id == lead_id)
            .order_by(OwnerChange.at, OwnerChange.id)
        )
    )


def stage_entry(session: Session, lead: Lead) -> StageTransition | None:
    """The transition that put the lead in its current stage."""
    return session.scalars(
        select(StageTransition)
        .where(StageTransition.lead_id == lead.id, StageTransition.to_stage == lead.stage)
        .order_by(StageTransition.at.desc(), StageTransition.id.desc())
        .limit(1)
    ).first()


def current_offer(session: Session, lead: Lead) -> Offer | None:
    """The open offer on the lead's current stage entry (an MQL/PQL offered to one rep)."""
    if Stage(lead.stage) not in QUALIFIED:
        return None
    entry = stage_entry(session, lead)
    if entry is None:
        return None
    return session.scalars(
        select(Offer).where(Offer.transition_id == entry.id, Offer.closed_at.is_(None))
    ).first()


def offer_open(offer: Offer | None, now: datetime) -> bool:
    return offer is not None and offer.closed_at is None and now < offer.until


def lead_out(lead: Lead) -> LeadOut:
    return LeadOut.model_validate(_lead_fields(lead))


def crm_link(lead: Lead) -> dict[str, Any] | None:
    """``{"system", "id", "url"}`` of the lead's CRM record, or None."""
    if lead.crm_system is None or lead.crm_id is None:
        return None
    url = (lead.crm_seen or {}).get("url")
    return {"system": lead.crm_system, "id": lead.crm_id, "url": url}


def _lead_fields(lead: Lead) -> dict[str, Any]:
    fields = {
        name: getattr(lead, name) for name in LeadOut.model_fields if name not in ("score", "crm")
    }
    fields["crm"] = crm_link(lead)
    fields["properties"] = lead.properties or {}
    fields["score"] = {
        "fit": round(lead.fit, 2),
        "grade": lead.grade,
        "engagement": round(lead.engagement, 2),
        "product": round(lead.product, 2),
        "reasons": lead.score_reasons or [],
    }
    return fields


def history(session: Session, lead_id: int) -> list[StageTransition]:
    return list(
        session.scalars(
            select(StageTransition)
            .where(StageTransition.lead_id == lead_id)
            .order_by(StageTransition.at, StageTransition.id)
        )
    )


def latest_qualification(session: Session, lead_id: int) -> Qualification | None:
    return session.scalars(
        select(Qualification)
        .where(Qualification.lead_id == lead_id)
        .order_by(Qualification.created_at.desc(), Qualification.id.desc())
        .limit(1)
    ).first()


def opportunity_of(session: Session, lead_id: int) -> Opportunity | None:
    return session.scalars(select(Opportunity).where(Opportunity.lead_id == lead_id)).first()


def full_history(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """Stage changes and owner changes in the order they happened (an owner change made in the
    same step as a stage change comes after it)."""
    rows: list[tuple[Any, int, int, dict[str, Any]]] = [
        (
            t.at,
            0,
            t.id,
            {
                "kind": "stage",
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "actor": t.actor,
                "reason": t.reason,
                "at": t.at,
            },
        )
        for t in history(session, lead_id)
    ]
    rows += [
        (
            o.at,
            1,
            o.id,
            {
                "kind": "owner",
                "from_stage": o.stage,
                "to_stage": o.stage,
                "actor": o.actor,
                "reason": o.reason,
                "at": o.at,
                "from_owner": o.from_owner,
                "to_owner": o.to_owner,
            },
        )
        for o in owner_history(session, lead_id)
    ]
    return [entry for *_, entry in sorted(rows, key=lambda row: row[:3])]


def lead_detail(session: Session, lead: Lead, now: datetime | None = None) -> LeadDetail:
    fields = _lead_fields(lead)
    fields["history"] = full_history(session, lead.id)
    offer = current_offer(session, lead)
    if offer is not None and (now is None or offer_open(offer, now)):
        fields["offered_to"], fields["offered_until"] = offer.rep, offer.until
    qualification = latest_qualification(session, lead.id)
    opportunity = opportunity_of(session, lead.id)
    fields["qualification"] = _columns(qualification) if qualification else None
    fields["opportunity"] = _columns(opportunity) if opportunity else None
    return LeadDetail.model_validate(fields)


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        last_id = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("not a cursor this API handed out") from exc
    if prefix != "id" or not 0 <= last_id < 2**63:
        raise BadCursor("not a cursor this API handed out")
    return last_id


def list_leads(
    session: Session,
    *,
    email: str | None = None,
    stage: Stage | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> LeadPage:
    """A page of leads in id order; ``next_cursor`` continues after the last one."""
    query = select(Lead).order_by(Lead.id).limit(limit + 1)
    if email:
        query = query.where(Lead.email == email.strip().lower())
    if stage:
        query = query.where(Lead.stage == stage.value)
    if cursor:
        query = query.where(Lead.id > decode_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return LeadPage(
        leads=[lead_out(lead) for lead in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
