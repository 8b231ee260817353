"""What each message says: one renderer per message type, reading what it needs from the
database and building the Slack message with ``bot/views``. No Slack calls here; a renderer
returns what to say (a post or an edit), or None when there is nothing left to say (the lead
is gone, or has moved on from what the message is about)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.handlers.home import build_home
from bot.runtime import Runtime
from bot.slack.present import card_of, likely_card
from bot.views.alerts import (
    Status,
    assigned_dm,
    erased_message,
    lead_alert,
    marketing_accepted,
    marketing_rejected,
    redacted_message,
)
from bot.views.crm import write_gave_up
from bot.views.digest import chart_filename, digest_message, funnel_chart
from bot.views.reminders import Waiting, escalation_dm, owner_dm, thread_reminder
from bot.views.routing import OfferLine, fallback_note, offer_block, offer_dm
from bot.views.webhooks import endpoint_disabled
from core.config import Team
from core.lifecycle import QUALIFIED, Stage
from core.messages import (
    AlertRefresh,
    AssignedDm,
    CrmWriteGaveUp,
    Digest,
    HomeRefresh,
    LeadErased,
    LeadQualified,
    MarketingAccepted,
    MarketingRejected,
    Message,
    OfferDm,
    Reminder,
    ReminderEscalation,
    ReminderOwner,
    ReminderThread,
    RoutingFallback,
    WebhookDisabled,
)
from core.models import Lead, Offer, SlackMessage, StageTransition
from core.services.handoff import REASONS_BY_CODE
from core.services.leads import stage_entry
from core.services.privacy import erased_text
from core.services.stages import latest_transition


@dataclass(frozen=True)
class Chart:
    """A file shared in the channel after the post; drawn only if no earlier attempt did."""

    filename: str
    title: str
    draw: Callable[[], bytes]


@dataclass(frozen=True)
class Post:
    """A new message in ``channel`` (a user id for a DM); in a thread when ``thread_ts`` is set.
    ``alert_of``: the stage entry it announces, recorded so later changes edit it."""

    channel: str
    message: dict[str, Any]
    thread_ts: str | None = None
    chart: Chart | None = None
    alert_of: int | None = None


@dataclass(frozen=True)
class Edit:
    channel: str
    ts: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Publish:
    """A user's App Home, published again."""

    user: str
    view: dict[str, Any]


Say = Post | Edit | Publish


def _live(session: Session, lead_id: int) -> Lead | None:
    """The lead, unless it is gone or erased: then there is nothing to say about it."""
    lead = session.get(Lead, lead_id)
    return lead if lead is not None and lead.erased_at is None else None


def render(runtime: Runtime, message: Message) -> Say | None:
    match message:
        case LeadQualified():
            return _alert(runtime, message)
        case AlertRefresh():
            return _refresh(runtime, message)
        case MarketingAccepted() | MarketingRejected():
            return _marketing(runtime, message)
        case AssignedDm():
            return _assigned(runtime, message)
        case ReminderThread() | ReminderEscalation() | ReminderOwner():
            return _reminder(runtime, message)
        case Digest():
            return _digest(runtime, message)
        case OfferDm():
            return _offer_dm(runtime, message)
        case RoutingFallback():
            return _fallback(runtime, message)
        case LeadErased():
            return _erased(message)
        case HomeRefresh():
            return Publish(message.user, build_home(runtime, message.user))
        case WebhookDisabled():
            return Post(
                runtime.config.marketing.channel,
                endpoint_disabled(message.endpoint_id, message.url, message.reason),
            )
        case CrmWriteGaveUp():
            with runtime.db.transaction() as session:
                lead = session.get(Lead, message.lead_id)
                email = lead.email if lead else None
            return Post(
                runtime.config.marketing.channel,
                write_gave_up(message.lead_id, email, message.system, message.what, message.error),
            )
        case _:
            assert_never(message)


def alert_status(session: Session, lead: Lead, alert: StageTransition) -> Status | None:
    """None while the alert still waits for sales; otherwise what happened since."""
    latest = latest_transition(session, lead.id)
    if latest is None or latest.id == alert.id:
        return None
    after = None
    if latest.from_stage in QUALIFIED and Stage(latest.to_stage) not in QUALIFIED:
        after = (latest.at - alert.at).total_seconds()
    return Status(
        stage=latest.to_stage, actor=latest.actor, after_seconds=after, reason=latest.reason
    )


def _alert(runtime: Runtime, message: LeadQualified) -> Say | None:
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        alert = session.get(StageTransition, message.transition_id)
        if lead is None or alert is None:
            return None  # the lead was deleted: nothing left to announce
        team = config.team(lead.team)
        view = lead_alert(
            likely_card(session, lead, config, runtime.now()),
            alert.to_stage,
            alert_status(session, lead, alert),
            unrouted=team is None,
            offer=_offer_block(runtime, session, lead, alert),
        )
    channel = team.channel if team else config.marketing.channel
    return Post(channel, view, alert_of=alert.id)


def _refresh(runtime: Runtime, message: AlertRefresh) -> Say | None:
    with runtime.db.transaction() as session:
        record = session.scalars(
            select(SlackMessage)
            .where(SlackMessage.lead_id == message.lead_id, SlackMessage.purpose == "alert")
            .order_by(SlackMessage.id.desc())
            .limit(1)
        ).first()
        lead = _live(session, message.lead_id)
        if record is None or lead is None:
            return None  # never announced (or gone): nothing to edit
        alert = session.get(StageTransition, record.transition_id)
        assert alert is not None  # a foreign key guarantees it
        team = runtime.config.team(lead.team)
        view = lead_alert(
            likely_card(session, lead, runtime.config, runtime.now()),
            alert.to_stage,
            alert_status(session, lead, alert),
            unrouted=team is None and alert.to_stage in QUALIFIED,
            offer=_offer_block(runtime, session, lead, alert),
        )
        return Edit(record.channel, record.ts, view)


def _marketing(runtime: Runtime, message: MarketingAccepted | MarketingRejected) -> Say | None:
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        moved = session.get(StageTransition, message.transition_id)
        if lead is None or moved is None:
            return None
        card = card_of(lead)
    if isinstance(message, MarketingAccepted):
        view = marketing_accepted(card, message.actor, message.waited_seconds, message.assigned_by)
    else:
        code = message.reason
        label = REASONS_BY_CODE[code].label if code else message.reason_text or "-"
        view = marketing_rejected(
            card, message.actor, label, message.comment, moved.to_stage, message.waited_seconds
        )
    return Post(runtime.config.marketing.channel, view)


def _assigned(runtime: Runtime, message: AssignedDm) -> Say | None:
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        if lead is None:
            return None
        return Post(message.owner, assigned_dm(card_of(lead), message.actor))


def _reminder(runtime: Runtime, message: Reminder) -> Say | None:
    """A reminder or escalation, unless its lead has left the stage entry it is about."""
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        entry = stage_entry(session, lead) if lead is not None else None
        if lead is None or entry is None or entry.id != message.transition_id:
            return None  # the lead moved on: the reminder no longer applies
        team = config.team(lead.team)
        zone = team.zone if team else ZoneInfo("UTC")
        waiting = Waiting(
            sla=str(getattr(config.sla, message.repeats)),
            since=f"{entry.at.astimezone(zone):%a %d %b %H:%M} {zone.key}",
            repeat=message.level != message.repeats,
        )
        card = card_of(lead)
        owner = lead.owner
        alert = session.scalars(
            select(SlackMessage).where(
                SlackMessage.purpose == "alert", SlackMessage.transition_id == entry.id
            )
        ).first()
        thread = (alert.channel, alert.ts) if alert else None
    to = message.to
    if isinstance(message, ReminderThread):
        view = thread_reminder(card, waiting, message.mentions, unrouted=team is None)
        if thread is None:  # no alert was recorded: say it in the channel itself
            return Post(to, view)
        return Post(thread[0], view, thread_ts=thread[1])
    if isinstance(message, ReminderEscalation):
        where = f"<#{team.channel}>" if team else "the marketing channel (unrouted)"
        return Post(to, escalation_dm(card, waiting, where))
    stand_in = to != owner
    return Post(
        to, owner_dm(card, waiting, instead_of=owner if stand_in else None, manager=stand_in)
    )


def _digest(runtime: Runtime, numbers: Digest) -> Say | None:
    """The daily digest, then its funnel chart."""
    chart = Chart(
        chart_filename(numbers),
        f"Funnel, {numbers.series['days']} days to {numbers.day}",
        lambda: funnel_chart(numbers.series),
    )
    return Post(runtime.config.marketing.channel, digest_message(numbers), chart=chart)


# --- routing -----------------------------------------------------------------------------------


def _when(moment: datetime, team: Team | None) -> str:
    zone = team.zone if team else ZoneInfo("UTC")
    return f"{moment.astimezone(zone):%a %d %b %H:%M} {zone.key}"


def _offer_block(
    runtime: Runtime, session: Session, lead: Lead, alert: StageTransition
) -> dict[str, Any] | None:
    """Whom the alert's lead is offered to, or that its claim window ended."""
    offer = session.scalars(select(Offer).where(Offer.transition_id == alert.id)).first()
    if offer is None:
        return None
    team = runtime.config.team(offer.team)
    if offer.closed_at is None:
        return offer_block(
            OfferLine(rep=offer.rep, until=_when(offer.until, team), reason=offer.reason)
        )
    if lead.owner is None:
        return offer_block(OfferLine(opened_to=team.reps if team else ()))
    return None


def _offer_dm(runtime: Runtime, message: OfferDm) -> Say | None:
    """The DM to the offered rep, unless the lead has moved on since."""
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        entry = stage_entry(session, lead) if lead is not None else None
        if lead is None or entry is None or entry.id != message.transition_id:
            return None
        offer = session.scalars(select(Offer).where(Offer.transition_id == entry.id)).first()
        if offer is None or offer.rep != message.rep:
            return None
        team = runtime.config.team(offer.team)
        return Post(message.rep, offer_dm(card_of(lead), _when(offer.until, team), offer.reason))


def _fallback(runtime: Runtime, message: RoutingFallback) -> Say | None:
    """Nobody could be offered the lead: the managers hear why, in the alert's thread."""
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = _live(session, message.lead_id)
        if lead is None:
            return None
        team = config.team(lead.team)
        alert = session.scalars(
            select(SlackMessage).where(
                SlackMessage.purpose == "alert", SlackMessage.transition_id == message.transition_id
            )
        ).first()
        thread = (alert.channel, alert.ts) if alert else None
    view = fallback_note(team.managers if team else (), message.skipped)
    if thread is None:  # the alert was never recorded: say it in the channel itself
        return Post(team.channel if team else config.marketing.channel, view)
    return Post(thread[0], view, thread_ts=thread[1])


def _erased(message: LeadErased) -> Say:
    """The message about an erased lead, rewritten to say only that (no buttons)."""
    if message.text is not None:  # another lead's message that named the erased person
        return Edit(message.channel, message.ts, redacted_message(message.text))
    return Edit(message.channel, message.ts, erased_message(erased_text(message)))
