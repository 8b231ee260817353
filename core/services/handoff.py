"""The handoff from marketing to sales: Accept makes an MQL/PQL a SAL owned by the clicker,
Reject sends it to nurture or unqualified with a reason and tells marketing why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core import access
from core.access import Action
from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED, Stage
from core.messages import AlertRefresh, MarketingAccepted, MarketingRejected, enqueue
from core.models import Lead, StageTransition
from core.refusals import Refused
from core.services.leads import current_offer, get_lead
from core.services.owners import ACCEPTED, assigned_by, change_owner
from core.services.stages import Conflict, latest_transition, transition, waited_seconds


@dataclass(frozen=True)
class RejectReason:
    code: str
    label: str
    stage: Stage


#: The fixed list of reasons in the Reject modal, and where each sends the lead.
REJECT_REASONS: tuple[RejectReason, ...] = (
    RejectReason("not_ready", "Not ready yet", Stage.NURTURE),
    RejectReason("no_budget", "No budget yet", Stage.NURTURE),
    RejectReason("bad_fit", "Bad fit", Stage.UNQUALIFIED),
    RejectReason("competitor", "Competitor", Stage.UNQUALIFIED),
    RejectReason("student", "Student or personal", Stage.UNQUALIFIED),
    RejectReason("spam", "Spam or fake", Stage.UNQUALIFIED),
    RejectReason("duplicate", "Duplicate", Stage.UNQUALIFIED),
    RejectReason("wrong_contact", "Wrong contact data", Stage.UNQUALIFIED),
)
REASONS_BY_CODE = {reason.code: reason for reason in REJECT_REASONS}
MAX_COMMENT = 2000


def accept(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig, now: datetime
) -> StageTransition:
    """Make the lead a SAL owned by ``actor``. An unrouted lead joins the accepter's team."""
    lead = get_lead(session, lead_id, lock=True)
    access.check(Action.ACCEPT, config, actor, lead)
    return hand_over(session, lead, owner=actor, actor=actor, config=config, now=now)


def check_may_accept(
    session: Session, lead: Lead, actor: str, config: WorkspaceConfig, now: datetime
) -> None:
    """Inside a claim window only the offered rep or a manager of the team may accept."""
    offer = current_offer(session, lead)
    if offer is None or offer.closed_at is not None:
        return
    if access.can_accept_offered(config, actor, lead, offer.rep, offer.until, now):
        return
    team = config.team(lead.team)
    zone = team.zone if team else None
    until = offer.until.astimezone(zone) if zone else offer.until
    raise Refused(
        f"This lead is offered to {{rep}} until {until:%Y-%m-%d %H:%M} "
        f"({zone.key if zone else 'UTC'}); after that anyone on the team may accept it.",
        people={"rep": offer.rep},
    )


def hand_over(
    session: Session,
    lead: Lead,
    *,
    owner: str,
    actor: str,
    config: WorkspaceConfig,
    now: datetime,
    reason: str = "accepted",
) -> StageTransition:
    """MQL/PQL -> SAL owned by ``owner`` (the accepter, or whom a manager assigned it to),
    whichever way it happens; the alert is updated and marketing is told."""
    if actor == owner:  # taking it oneself; a manager may give an offered lead to anyone
        check_may_accept(session, lead, actor, config, now)
    waited = waited_seconds(session, lead, now) if Stage(lead.stage) in QUALIFIED else 0
    team = lead.team or access.sales_teams(config, owner)[0].name
    offer = current_offer(session, lead)
    moved = transition(
        session,
        lead,
        Stage.SAL,
        actor=actor,
        now=now,
        reason=reason,
        team=team,
        expect=QUALIFIED,
    )
    why = ACCEPTED if actor == owner else assigned_by(actor)
    change_owner(session, lead, to=owner, actor=actor, reason=why, now=now)
    if offer is not None:
        offer.closed_at = now
    enqueue(session, AlertRefresh(lead.id), now=now)
    enqueue(
        session,
        MarketingAccepted(
            lead.id,
            transition_id=moved.id,
            actor=owner,
            waited_seconds=waited,
            assigned_by=actor if actor != owner else None,
        ),
        now=now,
    )
    return moved


def tell_marketing_parked(
    session: Session, lead: Lead, moved: StageTransition, *, actor: str, waited: int, now: datetime
) -> None:
    """A waiting MQL/PQL sent to nurture or unqualified without the Reject modal (``/lead``)."""
    enqueue(
        session,
        MarketingRejected(
            lead.id,
            transition_id=moved.id,
            actor=actor,
            waited_seconds=waited,
            reason_text=moved.reason,
        ),
        now=now,
    )


def check_can_reject(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig
) -> Lead:
    """Before the Reject modal opens: the lead exists, is still waiting, and ``actor`` may act."""
    lead = get_lead(session, lead_id)
    access.check(Action.REJECT, config, actor, lead)
    if Stage(lead.stage) not in QUALIFIED:
        raise Conflict(lead, latest_transition(session, lead.id))
    return lead


def reject(
    session: Session,
    lead_id: int,
    *,
    actor: str,
    reason: str,
    comment: str | None,
    config: WorkspaceConfig,
    now: datetime,
) -> StageTransition:
    """Send the lead to nurture or unqualified by ``reason`` and tell marketing."""
    chosen = REASONS_BY_CODE.get(reason)
    if chosen is None:
        raise Refused(f"Unknown reason {reason!r}.")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        raise Refused(f"The comment is limited to {MAX_COMMENT} characters.")
    lead = get_lead(session, lead_id, lock=True)
    access.check(Action.REJECT, config, actor, lead)
    waited = waited_seconds(session, lead, now) if Stage(lead.stage) in QUALIFIED else 0
    text = chosen.label + (f": {comment}" if comment else "")
    moved = transition(
        session,
        lead,
        chosen.stage,
        actor=actor,
        now=now,
        reason=text,
        expect=QUALIFIED,
        details={"reason_code": chosen.code, "comment": comment},
    )
    enqueue(session, AlertRefresh(lead.id), now=now)
    enqueue(
        session,
        MarketingRejected(
            lead.id,
            transition_id=moved.id,
            actor=actor,
            waited_seconds=waited,
            reason=chosen.code,
            comment=comment,
        ),
        now=now,
    )
    return moved
