"""Leads and events arriving from marketing: upsert, store, re-score, and qualify into MQL/PQL.

A lead that crosses the MQL or PQL rule moves there as actor ``system`` with the rule as the
reason, is routed to a team, and an outbox row records that Slack must be told, all in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, insert, or_, select
from sqlalchemy.orm import Session

from core.config import WorkspaceConfig
from core.lifecycle import Stage
from core.messages import LeadQualified, enqueue
from core.models import Event, Lead, StageTransition
from core.routing import route_lead
from core.schemas import MAX_PROPERTIES, EventIn, LeadIn
from core.scoring import Decision, Folded, ScoredEvent, decide, score_lead
from core.services import learning, privacy, snapshots
from core.services.leads import profile_of
from core.services.offers import offer_lead
from core.services.owners import QUALIFIED_AGAIN, change_owner
from core.services.stages import transition

#: How far ahead of our clock an event may claim to be (the sender's clock runs fast); such an
#: event is taken as happening now. Further ahead is refused.
CLOCK_SKEW = timedelta(minutes=5)
QUALIFY_FROM = frozenset({Stage.LEAD, Stage.NURTURE})

EVENTS = cast(Table, Event.__table__)

Outcome = Literal["created", "updated", "unchanged", "rejected"]


class BadInput(Exception):
    """Input that passed the schema but not the rules; ``errors`` are ``(location, message)``."""

    def __init__(self, errors: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


@dataclass
class Qualified:
    lead_id: int
    stage: Stage
    team: str | None
    rule: str


@dataclass
class EventsResult:
    accepted: int = 0
    duplicates: int = 0
    created_leads: int = 0
    qualified: list[Qualified] = field(default_factory=list)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_lead_values(email: str, now: datetime) -> dict[str, Any]:
    """The columns of a lead known by nothing but its (normalised) e-mail: stage ``lead``, no
    properties, an unscored grade D."""
    return {
        "email": email,
        "stage": Stage.LEAD.value,
        "properties": {},
        "stage_changed_at": now,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "fit": 0.0,
        "grade": "D",
        "engagement": 0.0,
        "product": 0.0,
        "score_reasons": [],
    }


def _new_lead(email: str, now: datetime) -> Lead:
    return Lead(**new_lead_values(email, now))


def _apply(lead: Lead, data: LeadIn) -> bool:
    """New non-empty values overwrite, properties merge. True if anything changed. Raises
    :class:`BadInput` before changing anything when the merged properties would be too many."""
    merged = {**(lead.properties or {}), **(data.properties or {})}
    if len(merged) > MAX_PROPERTIES:
        raise BadInput(
            [
                (
                    ("properties",),
                    f"the lead would have {len(merged)} properties; "
                    f"at most {MAX_PROPERTIES} are kept",
                )
            ]
        )
    changed = False
    for name, value in data.profile().items():
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed = True
    if data.properties and merged != lead.properties:
        lead.properties = merged
        changed = True
    if changed:
        lead.set_search_keys()
    return changed


def upsert_lead(
    session: Session,
    data: LeadIn,
    *,
    config: WorkspaceConfig,
    now: datetime,
    by_status: Mapping[str, str] | None = None,
) -> tuple[Lead, Outcome, Qualified | None]:
    """Create or update the lead with ``data.email``; re-score it when its profile changed."""
    email = normalize_email(data.email)
    lead = session.scalars(select(Lead).where(Lead.email == email).with_for_update()).first()
    outcome: Outcome = "updated"
    if lead is None:
        if privacy.is_suppressed(session, email):
            raise privacy.Suppressed()
        lead = _new_lead(email, now)
        session.add(lead)
        outcome = "created"
    if not _apply(lead, data) and outcome == "updated":
        return lead, "unchanged", None
    lead.updated_at = now
    session.flush()
    return lead, outcome, rescore(session, lead, config=config, now=now, by_status=by_status)


def upsert_many(
    session: Session, rows: Sequence[LeadIn], *, config: WorkspaceConfig, now: datetime
) -> list[tuple[Outcome, str | None]]:
    """Bulk upsert (CSV import): one query for the existing leads, then as :func:`upsert_lead`.
    A row the lead cannot take is ``("rejected", reason)`` and changes nothing."""
    emails = [normalize_email(row.email) for row in rows]
    existing = {
        lead.email: lead
        for lead in session.scalars(
            select(Lead).where(Lead.email.in_(set(emails))).order_by(Lead.id).with_for_update()
        )
    }
    suppressed = privacy.suppressed_among(session, set(emails) - existing.keys())
    outcomes: list[tuple[Outcome, str | None]] = []
    for email, row in zip(emails, rows, strict=True):
        lead = existing.get(email)
        outcome: Outcome = "updated"
        if lead is None and email in suppressed:
            outcomes.append(("rejected", str(privacy.Suppressed())))
            continue
        if lead is None:
            lead = existing[email] = _new_lead(email, now)
            session.add(lead)
            outcome = "created"
        try:
            changed = _apply(lead, row)
        except BadInput as exc:
            if outcome == "created":
                session.expunge(lead)
                del existing[email]
            outcomes.append(("rejected", str(exc)))
            continue
        if not changed and outcome == "updated":
            outcomes.append(("unchanged", None))
            continue
        lead.updated_at = now
        session.flush()
        rescore(session, lead, config=config, now=now)
        outcomes.append((outcome, None))
    return outcomes


def record_events(
    session: Session,
    events: Sequence[EventIn],
    *,
    config: WorkspaceConfig,
    now: datetime,
    by_status: Mapping[str, str] | None = None,
) -> EventsResult:
    """Store ``events`` (all or none), count repeated ``event_id`` once, create leads for unknown
    e-mails, and re-score every lead touched. Raises :class:`BadInput` before writing anything."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    when: list[datetime] = []
    for index, event in enumerate(events):
        occurred = event.occurred_at or now
        if occurred > now + CLOCK_SKEW:
            errors.append(((index, "occurred_at"), "is in the future"))
        when.append(min(occurred, now))

    wanted_ids = {event.lead_id for event in events if event.lead_id is not None}
    emails = {normalize_email(e.email) for e in events if e.lead_id is None and e.email}
    # Lock every existing lead before inserting events: the events' foreign keys take share
    # locks on the same rows, and locking afterwards would deadlock two concurrent batches.
    locked = _locked(session, wanted_ids, emails)
    by_id = {lead.id: lead for lead in locked}
    for index, event in enumerate(events):
        if event.lead_id is not None and event.lead_id not in by_id:
            errors.append(((index, "lead_id"), f"no lead with id {event.lead_id}"))
        elif (
            event.lead_id is not None
            and event.email is not None
            and normalize_email(event.email) != by_id[event.lead_id].email
        ):
            errors.append(((index, "email"), f"does not match lead {event.lead_id}'s e-mail"))
    if errors:
        raise BadInput(errors)

    result = EventsResult()
    by_email = {lead.email: lead for lead in locked if lead.email in emails}
    missing = sorted(emails - by_email.keys())
    if privacy.suppressed_among(session, missing):
        raise privacy.Suppressed()
    created: set[int] = set()
    if missing:
        # One INSERT for the batch's new leads; a concurrent batch creating one of them first
        # fails the unique e-mail here, and with_retry runs the batch again as an update.
        for lead in session.scalars(
            insert(Lead).returning(Lead), [new_lead_values(email, now) for email in missing]
        ):
            by_email[lead.email] = lead
            created.add(lead.id)
        result.created_leads = len(missing)

    given_ids = {event.event_id for event in events if event.event_id}
    seen = (
        set(session.scalars(select(Event.event_id).where(Event.event_id.in_(given_ids))))
        if given_ids
        else set()
    )
    rows: list[dict[str, Any]] = []
    for event, occurred in zip(events, when, strict=True):
        if event.event_id and event.event_id in seen:
            result.duplicates += 1
            continue
        if event.event_id:
            seen.add(event.event_id)
        lead = (
            by_id[event.lead_id]
            if event.lead_id is not None
            else by_email[normalize_email(event.email or "")]
        )
        rows.append(
            {
                "lead_id": lead.id,
                "event_id": event.event_id,
                "type": event.type,
                "occurred_at": occurred,
                "received_at": now,
                "properties": event.properties or {},
            }
        )
    if rows:  # a Core executemany: nothing needs the rows back as objects
        session.execute(insert(EVENTS), rows)
    result.accepted = len(rows)

    # Each touched lead is re-scored once, in id order, from one query for all their events. A
    # lead this batch created has no events but the batch's own (no one else can see it yet).
    leads = {lead.id: lead for lead in [*by_id.values(), *by_email.values()]}
    touched = sorted({row["lead_id"] for row in rows})
    history = scored_events(session, [i for i in touched if i not in created], config)
    types = scored_types(config)
    for row in rows:
        if row["lead_id"] in created and row["type"] in types:
            history.setdefault(row["lead_id"], []).append(
                ScoredEvent(row["type"], row["occurred_at"])
            )
    snapshots.prefetch(session, touched)
    try:
        _rescore_touched(session, touched, leads, history, config, now, by_status, result)
    finally:
        snapshots.write_batch(session)
    return result


def _rescore_touched(
    session: Session,
    touched: list[int],
    leads: dict[int, Lead],
    history: dict[int, list[ScoredEvent]],
    config: WorkspaceConfig,
    now: datetime,
    by_status: Any,
    result: Any,
) -> None:
    for lead_id in touched:
        lead = leads[lead_id]
        lead.updated_at = now
        qualified = rescore(
            session,
            lead,
            config=config,
            now=now,
            by_status=by_status,
            events=history.get(lead_id, []),
        )
        if qualified:
            result.qualified.append(qualified)


def _locked(session: Session, ids: Collection[int], emails: Collection[str]) -> list[Lead]:
    """The leads with ``ids`` or ``emails``, row-locked in id order (a fixed order cannot
    deadlock), in one query."""
    wanted = [
        *([Lead.id.in_(sorted(ids))] if ids else []),
        *([Lead.email.in_(sorted(emails))] if emails else []),
    ]
    if not wanted:
        return []
    return list(
        session.scalars(select(Lead).where(or_(*wanted)).order_by(Lead.id).with_for_update())
    )


def scored_types(config: WorkspaceConfig) -> frozenset[str]:
    """The event types that score (the others are stored and score 0)."""
    return frozenset(config.scoring.events) | frozenset(config.scoring.product_events)


def scored_events(
    session: Session, lead_ids: Collection[int], config: WorkspaceConfig
) -> dict[int, list[ScoredEvent]]:
    """The scored events of each of ``lead_ids`` (a lead with none is absent), in the order
    they were stored."""
    if not lead_ids:
        return {}
    rows = session.execute(
        select(Event.lead_id, Event.type, Event.occurred_at)
        .where(Event.lead_id.in_(sorted(lead_ids)), Event.type.in_(scored_types(config)))
        .order_by(Event.lead_id, Event.id)
    )
    found: dict[int, list[ScoredEvent]] = {}
    for lead_id, kind, occurred in rows:
        found.setdefault(lead_id, []).append(ScoredEvent(kind, occurred))
    return found


def rescore(
    session: Session,
    lead: Lead,
    *,
    config: WorkspaceConfig,
    now: datetime,
    by_status: Mapping[str, str] | None = None,
    events: Sequence[ScoredEvent] | None = None,
) -> Qualified | None:
    """Refresh the lead's score snapshot; move it to MQL/PQL if a rule now says so, and offer
    it to a rep of its team when the team routes that way. ``by_status`` names the reps whose
    Slack status says they are away (and why). ``events`` are the lead's scored events when the
    caller has loaded them already (see :func:`scored_events`)."""
    if events is None:
        events = scored_events(session, [lead.id], config).get(lead.id, [])
    score = score_lead(config.scoring, profile_of(lead), events, now, folded_of(lead))
    lead.fit, lead.grade = score.fit, score.grade
    lead.engagement, lead.product = score.engagement, score.product
    lead.score_reasons = [reason.as_dict() for reason in score.reasons]
    # What the lead looked like at this scoring moment, for learning from what was known then.
    snapshots.record(session, lead, now)
    if Stage(lead.stage) not in QUALIFY_FROM:
        return None
    if crm_decides(config, lead):
        return None  # the CRM's stage makes this lead an MQL (core/services/crm_sync)
    if Stage(lead.stage) is Stage.NURTURE:
        # Back from sales: only what the lead did since then can qualify it again, or the very
        # engagement sales just turned down would raise the same alert at the next event.
        events = [event for event in events if event.occurred_at > lead.stage_changed_at]
        score = score_lead(config.scoring, profile_of(lead), events, now)
    decision = decide(config.scoring, score, events, now)
    if decision.stage is None and (Stage(lead.stage) is Stage.LEAD or events):
        # Beside the rules, the learned likelihood (with use = "on"); a nurtured lead needs new
        # engagement for it too.
        rule = learning.qualification_by_likelihood(session, lead, config, score.grade, now)
        decision = Decision(Stage.MQL, rule) if rule else decision
    if decision.stage is None or decision.rule is None:
        return None
    team = route_lead(config.teams, profile_of(lead))
    team_name = team.name if team else None
    session.flush()  # the transition's compare-and-set re-reads the lead: store its score first
    moved = transition(
        session,
        lead,
        decision.stage,
        actor="system",
        now=now,
        reason=decision.rule,
        team=team_name,
    )
    if lead.owner is not None:  # back from nurture: the team (or an offer) decides anew
        change_owner(session, lead, to=None, actor="system", reason=QUALIFIED_AGAIN, now=now)
    enqueue_alert(session, lead, moved, now)
    offer_lead(session, lead, moved, config=config, now=now, by_status=by_status)
    return Qualified(lead.id, decision.stage, team_name, decision.rule)


def crm_decides(config: WorkspaceConfig, lead: Lead) -> bool:
    """With ``[crm] qualify = "crm"`` a lead linked to the CRM is qualified by the CRM's stage,
    not by leadbot's scoring (which still scores it, for the card)."""
    crm = config.crm
    return crm.system is not None and crm.qualify == "crm" and lead.crm_system == crm.system


def folded_of(lead: Lead) -> Folded | None:
    """The points of the lead's events that retention folded in and deleted, if any."""
    if lead.folded_at is None:
        return None
    return Folded(lead.folded_at, lead.folded_engagement or 0.0, lead.folded_product or 0.0)


def enqueue_alert(session: Session, lead: Lead, moved: StageTransition, now: datetime) -> None:
    """Record that the team (or marketing, when unrouted) must be told about a qualified lead."""
    enqueue(session, LeadQualified(lead.id, moved.id, lead.team, moved.to_stage), now=now)
