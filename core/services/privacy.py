"""Personal data as the law asks: erase a lead everywhere leadbot wrote it, export everything held
about them, and keep an erased address out (suppression). What counts as personal data is
``core.privacy.MAP``; each step below handles the tables that map names.

An erase runs in the caller's one transaction: the lead becomes an anonymous tombstone (id,
stage, team, owner, source, campaign, stage timestamps, scores) so the funnel and per-source
statistics stay right; free text and payloads that carried the person are cleared or rewritten;
every Slack message posted about the lead is queued to be rewritten (the outbox retries while
Slack is down), App Homes that could show it are queued to be published again, and
``lead.erased`` (ids only) goes to the webhook endpoints. The audit row says who, when and why.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import privacy, webhooks
from core.config import WorkspaceConfig
from core.db import insert_or_ignore
from core.messages import AlertRefresh, HomeRefresh, LeadErased, enqueue
from core.models import (
    CrmWriteRow,
    Event,
    InstallSecret,
    Lead,
    LeadSnapshot,
    Offer,
    OpenedView,
    Opportunity,
    Outbox,
    OwnerChange,
    PrivacyAudit,
    Qualification,
    SlackMessage,
    StageTransition,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from core.refusals import Refused, UnknownLead
from core.services import leads, learning, owners, webhook_events
from core.services.handoff import REJECT_REASONS

SECRET_NAME = "suppression"
OWNER_REASONS = frozenset(
    {
        owners.ROUND_ROBIN,
        owners.ACCOUNT_OWNER,
        owners.ACCEPTED,
        owners.WINDOW_ENDED,
        owners.QUALIFIED_AGAIN,
    }
)


class Suppressed(Refused):
    """The address was erased on request and may not come back until it is unsuppressed."""

    def __init__(self) -> None:
        super().__init__(
            "this e-mail address was erased on request and is suppressed "
            "(`leadbot lead unsuppress EMAIL` allows it again)"
        )


class AlreadyErased(Refused):
    pass


# --- suppression -------------------------------------------------------------------------------


def stored_secret(session: Session) -> bytes | None:
    """The install's HMAC key, or None before anything was ever suppressed."""
    found = session.get(InstallSecret, SECRET_NAME)
    return bytes.fromhex(found.value) if found is not None else None


def install_secret(session: Session, now: datetime) -> bytes:
    """The install's HMAC key, made on first use (two first uses at once agree on one)."""
    found = session.get(InstallSecret, SECRET_NAME)
    if found is None:
        insert_or_ignore(
            session,
            InstallSecret,
            {"name": SECRET_NAME, "value": secrets.token_hex(32), "created_at": now},
            ("name",),
        )
        found = session.get(InstallSecret, SECRET_NAME)
        assert found is not None
    return bytes.fromhex(found.value)


def is_suppressed(session: Session, email: str) -> bool:
    """Whether ``email`` was erased and must be refused (intake, CSV import, CRM sync)."""
    return bool(suppressed_among(session, [email]))


def suppressed_among(session: Session, emails: Iterable[str]) -> set[str]:
    """Those of ``emails`` (as given) that are suppressed, in one query."""
    wanted = list(emails)
    if not wanted:
        return set()
    secret = stored_secret(session)
    if secret is None:  # nothing was ever suppressed here
        return set()
    by_hash = {privacy.email_hash(secret, email): email for email in wanted}
    found = session.scalars(
        select(Suppression.email_hash).where(Suppression.email_hash.in_(by_hash))
    )
    return {by_hash[digest] for digest in found}


def suppress(session: Session, email: str, now: datetime) -> None:
    secret = install_secret(session, now)
    insert_or_ignore(
        session,
        Suppression,
        {"email_hash": privacy.email_hash(secret, email), "created_at": now},
        ("email_hash",),
    )


def unsuppress(session: Session, email: str, *, actor: str, reason: str, now: datetime) -> bool:
    """Allow ``email`` again; False if it was not suppressed."""
    secret = stored_secret(session)
    if secret is None:
        return False
    gone = session.execute(
        delete(Suppression).where(Suppression.email_hash == privacy.email_hash(secret, email))
    )
    if not gone.rowcount:  # type: ignore[attr-defined]
        return False
    session.add(PrivacyAudit(action="unsuppress", actor=actor, reason=reason, at=now, counts={}))
    return True


# --- finding the lead --------------------------------------------------------------------------


def find(session: Session, ref: str, *, lock: bool = False) -> Lead:
    """EMAIL or ID as an operator types it, erased leads included; :class:`UnknownLead` (which
    says when an address is unknown because it was erased) if there is none."""
    text = ref.strip()
    digits = text.removeprefix("#")
    query = select(Lead)
    if digits.isdigit() and len(digits) < 19:
        query = query.where(Lead.id == int(digits))
    elif "@" in text:
        query = query.where(Lead.email == privacy.normalize(text))
    else:
        raise UnknownLead(f"{ref!r} is neither a lead id nor an e-mail address")
    lead = session.scalars(query.with_for_update() if lock else query).first()
    if lead is not None:
        return lead
    if "@" in text and is_suppressed(session, text):
        raise UnknownLead(f"no lead has the address {text!r}: it was erased earlier (suppressed)")
    what = f"the address {text!r}" if "@" in text else f"the id {digits}"
    raise UnknownLead(f"no lead has {what}")


# --- erase -------------------------------------------------------------------------------------


@dataclass
class Erased:
    lead_id: int
    slack_messages: int = 0
    homes: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        rows = ", ".join(f"{name} {n}" for name, n in sorted(self.counts.items()) if n)
        return (
            f"lead {self.lead_id} erased ({rows or 'no other rows'}); "
            f"{self.slack_messages} Slack message(s) and {self.homes} App Home(s) queued "
            "to be rewritten"
        )


def scrub_reason(reason: str | None, actor: str) -> str | None:
    """A stage change's reason without the person: a Reject's label stays (the statistics count
    it), the rules' own words stay (actor ``system``), anything a person typed goes."""
    if reason is None:
        return None
    label = next((r.label for r in REJECT_REASONS if reason.startswith(r.label)), None)
    if label is not None:
        return label
    return reason if actor == "system" else privacy.ERASED


def _scrub_owner_reason(reason: str) -> str:
    if reason in OWNER_REASONS or reason.startswith("assigned by "):
        return reason
    return privacy.ERASED


def erase(
    session: Session,
    lead: Lead,
    *,
    config: WorkspaceConfig,
    actor: str,
    reason: str,
    now: datetime,
    suppress_email: bool = True,
) -> Erased:
    """Erase ``lead`` (row-locked by the caller) in this transaction; see the module's text.
    ``suppress_email=False`` anonymizes (retention): the address may come back as a new lead."""
    if lead.erased_at is not None:
        raise AlreadyErased(f"lead {lead.id} was already erased on {lead.erased_at:%Y-%m-%d}")
    reason = reason.strip()
    if not reason:
        raise Refused("say why (--reason): the erase is audited")
    lead_id, email = lead.id, lead.email
    crm = {"system": lead.crm_system, "id": lead.crm_id} if lead.crm_id else None
    terms = mention_terms(lead)
    counts: dict[str, int] = {}

    def count(name: str, result: Any) -> None:
        counts[name] = counts.get(name, 0) + int(result.rowcount or 0)

    # leads: the tombstone
    for column, kind in privacy.lead_columns("leads").items():
        if kind.erase == "clear":
            setattr(lead, column, {} if column == "properties" else None)
    lead.email = privacy.placeholder_email(lead_id)
    lead.erased_at = now
    lead.next_reminder_at = None
    lead.updated_at = now
    lead.version = lead.version + 1
    session.flush()

    count(
        "events",
        session.execute(
            update(Event).where(Event.lead_id == lead_id).values(properties={}, event_id=None)
        ),
    )
    for moved in session.scalars(select(StageTransition).where(StageTransition.lead_id == lead_id)):
        moved.reason = scrub_reason(moved.reason, moved.actor)
    for change in session.scalars(select(OwnerChange).where(OwnerChange.lead_id == lead_id)):
        change.reason = _scrub_owner_reason(change.reason)
    count(
        "qualifications",
        session.execute(
            update(Qualification)
            .where(Qualification.lead_id == lead_id)
            .values(need_text=None, notes=None)
        ),
    )
    count(
        "opportunities",
        session.execute(
            update(Opportunity)
            .where(Opportunity.lead_id == lead_id)
            .values(name=privacy.ERASED, crm_url=None)
        ),
    )
    count("opened_views", session.execute(delete(OpenedView).where(OpenedView.lead_id == lead_id)))
    session.execute(
        update(Offer)
        .where(Offer.lead_id == lead_id, Offer.closed_at.is_(None))
        .values(closed_at=now)
    )
    # Queued Slack messages would say the person again; delivered ones hold their words.
    count("outbox", session.execute(delete(Outbox).where(Outbox.lead_id == lead_id)))
    # The profile as it was at each scoring, and the writes for the CRM (notes carry answers).
    count(
        "lead_snapshots",
        session.execute(delete(LeadSnapshot).where(LeadSnapshot.lead_id == lead_id)),
    )
    count("crm_writes", session.execute(delete(CrmWriteRow).where(CrmWriteRow.lead_id == lead_id)))
    _scrub_webhooks(session, lead_id, counts)

    # Slack: every message posted about the lead, rewritten through the outbox.
    day = now.date().isoformat()
    text = _erased_text(day, anonymized=not suppress_email)
    posted = list(
        session.scalars(
            select(SlackMessage).where(SlackMessage.lead_id == lead_id).order_by(SlackMessage.id)
        )
    )
    for message in posted:
        message.text = text
    session.flush()
    for message in posted:
        enqueue(
            session,
            LeadErased(lead_id, message.channel, message.ts, day, not suppress_email),
            now=now,
        )
    counts["mentions_elsewhere"] = _redact_mentions(session, lead_id, terms, day, now)
    homes = _homes(session, config, lead)
    for user in homes:
        enqueue(session, HomeRefresh(lead_id, user), now=now)

    endpoints = webhook_events.subscribers(session)
    webhook_events.emit(
        session,
        webhooks.LEAD_ERASED,
        {"id": lead_id, "crm": crm, "erased_at": webhook_events.iso(now)},
        lead_id=lead_id,
        endpoints=endpoints,
        now=now,
    )
    if suppress_email:
        suppress(session, email, now)
    counts["slack_messages"] = len(posted)
    session.add(
        PrivacyAudit(
            action="erase" if suppress_email else "anonymize",
            lead_id=lead_id,
            actor=actor,
            reason=reason,
            at=now,
            counts=counts,
        )
    )
    session.flush()
    return Erased(lead_id, len(posted), len(homes), counts)


def mention_terms(lead: Lead) -> list[str]:
    """How other records may name the person: address, phone, full name, first and last name
    (each at least 3 characters, so that no short word is taken for a name)."""
    name = " ".join(part for part in (lead.first_name, lead.last_name) if part)
    found = [lead.email, lead.phone, name, lead.first_name, lead.last_name]
    terms = {t.strip() for t in found if t and len(t.strip()) >= 3}
    return sorted(terms, key=len, reverse=True)  # the full name before its parts


def redact(text: str, terms: list[str]) -> str:
    """``text`` with every whole-word mention of ``terms`` replaced (any case)."""
    for term in terms:
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        text = pattern.sub(privacy.ERASED, text)
    return text


def _redact_json(value: Any, terms: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, terms)
    if isinstance(value, list):
        return [_redact_json(item, terms) for item in value]
    if isinstance(value, dict):
        return {redact(k, terms): _redact_json(v, terms) for k, v in value.items()}
    return value


def _like_any(column: Any, terms: list[str]) -> Any:
    """A prefilter (the exact match is :func:`redact`): the column's text contains a term, as
    written or as JSON escapes it (non-ASCII letters as escape sequences)."""
    forms = {form for t in terms for form in (t.lower(), json.dumps(t.lower())[1:-1])}
    text_of = func.lower(cast(column, Text))
    return or_(*(text_of.contains(form, autoescape=True) for form in forms))


def _redact_mentions(
    session: Session, lead_id: int, terms: list[str], day: str, now: datetime
) -> int:
    """Other leads' records that name the person (a colleague's reject comment, a note, a
    message about them): the mention goes, the record stays; their Slack messages are edited."""
    if not terms:
        return 0
    changed = 0
    text_columns: list[tuple[Any, Any, tuple[str, ...]]] = [
        (StageTransition, StageTransition.lead_id, ("reason",)),
        (OwnerChange, OwnerChange.lead_id, ("reason",)),
        (Qualification, Qualification.lead_id, ("need_text", "notes")),
        (Opportunity, Opportunity.lead_id, ("name", "crm_url")),
    ]
    touched_leads: set[int] = set()
    for model, owner, columns in text_columns:
        found = session.scalars(
            select(model).where(
                owner != lead_id, or_(*(_like_any(getattr(model, c), terms) for c in columns))
            )
        )
        for row in found:
            for column in columns:
                value = getattr(row, column)
                if isinstance(value, str) and redact(value, terms) != value:
                    setattr(row, column, redact(value, terms))
                    changed += 1
                    touched_leads.add(row.lead_id)
    for event in session.scalars(
        select(WebhookEvent).where(
            or_(WebhookEvent.lead_id.is_(None), WebhookEvent.lead_id != lead_id),
            _like_any(WebhookEvent.body, terms),
        )
    ):
        body = json.dumps(_redact_json(_json_or_text(event.body), terms))
        if body != event.body:
            event.body = body
            changed += 1
    for row in session.scalars(
        select(Outbox).where(
            or_(Outbox.lead_id.is_(None), Outbox.lead_id != lead_id),
            _like_any(Outbox.payload, terms),
        )
    ):
        payload = _redact_json(row.payload, terms)
        if payload != row.payload:
            row.payload = payload
            changed += 1
    for message in session.scalars(
        select(SlackMessage).where(
            SlackMessage.lead_id != lead_id, _like_any(SlackMessage.text, terms)
        )
    ):
        if message.text is None or redact(message.text, terms) == message.text:
            continue
        message.text = redact(message.text, terms)
        changed += 1
        if message.purpose == "alert":  # drawn again from the records, mentions gone
            enqueue(session, AlertRefresh(message.lead_id), now=now)
        else:
            enqueue(
                session,
                LeadErased(message.lead_id, message.channel, message.ts, day, text=message.text),
                now=now,
            )
    for other in touched_leads:
        enqueue(session, AlertRefresh(other), now=now)
    session.flush()
    return changed


def _erased_text(day: str, *, anonymized: bool) -> str:
    return f"{privacy.ANONYMIZED_TEXT if anonymized else privacy.ERASE_TEXT} ({day})"


def erased_text(message: LeadErased) -> str:
    """What a rewritten Slack message says."""
    return _erased_text(message.on, anonymized=message.anonymized)


def _scrub_webhooks(session: Session, lead_id: int, counts: dict[str, int]) -> None:
    """Bodies of events already sent keep only what they were about; deliveries not yet made
    are dropped (their bodies carried the person)."""
    events = list(session.scalars(select(WebhookEvent).where(WebhookEvent.lead_id == lead_id)))
    for event in events:
        event.body = json.dumps(
            {
                "type": event.type,
                "timestamp": webhook_events.iso(event.created_at),
                "data": {"id": lead_id, "erased": True},
            }
        )
    counts["webhook_events"] = len(events)
    session.execute(
        update(WebhookDelivery).where(WebhookDelivery.lead_id == lead_id).values(last_error=None)
    )
    dropped = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.lead_id == lead_id,
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.gave_up_at.is_(None),
        )
    )
    counts["webhook_deliveries_dropped"] = int(dropped.rowcount or 0)  # type: ignore[attr-defined]
    session.flush()


def _homes(session: Session, config: WorkspaceConfig, lead: Lead) -> list[str]:
    """Whose App Home may have shown the lead: its owners, then and now, and its team's
    managers (their home lists the team's waiting leads and breaches)."""
    users: set[str] = set()
    if lead.owner:
        users.add(lead.owner)
    for before, after in session.execute(
        select(OwnerChange.from_owner, OwnerChange.to_owner).where(OwnerChange.lead_id == lead.id)
    ):
        users.update(u for u in (before, after) if u)
    team = config.team(lead.team)
    if team is not None:
        users.update(team.managers)
    return sorted(users)


# --- export ------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return webhook_events.iso(moment) if moment is not None else None


def export(
    session: Session, lead: Lead, *, config: WorkspaceConfig, now: datetime
) -> dict[str, Any]:
    """Everything held about the person, as one JSON-ready document (art. 15 and 20)."""
    document: dict[str, Any] = {"exported_at": webhook_events.iso(now), "lead_id": lead.id}
    if lead.erased_at is not None:
        document["erased_at"] = _iso(lead.erased_at)
    detail = leads.lead_detail(session, lead, now).model_dump(mode="json")
    found = learning.likelihood_of(session, lead, config, now)
    detail["likelihood"] = found.as_dict() if found is not None else None
    document["lead"] = detail
    document["events"] = [
        {
            "type": e.type,
            "occurred_at": _iso(e.occurred_at),
            "received_at": _iso(e.received_at),
            "event_id": e.event_id,
            "properties": e.properties,
        }
        for e in session.scalars(
            select(Event).where(Event.lead_id == lead.id).order_by(Event.occurred_at, Event.id)
        )
    ]
    if lead.folded_at is not None:
        document["folded_events"] = {
            "as_of": _iso(lead.folded_at),
            "engagement": lead.folded_engagement,
            "product": lead.folded_product,
        }
    document["qualifications"] = [
        {
            "budget": q.budget,
            "budget_amount": str(q.budget_amount) if q.budget_amount is not None else None,
            "authority": q.authority,
            "need": q.need,
            "need_text": q.need_text,
            "timeline": q.timeline,
            "notes": q.notes,
            "met": q.met,
            "by": q.actor,
            "at": _iso(q.created_at),
        }
        for q in session.scalars(
            select(Qualification)
            .where(Qualification.lead_id == lead.id)
            .order_by(Qualification.created_at, Qualification.id)
        )
    ]
    document["slack_messages"] = [
        {
            "channel": m.channel,
            "ts": m.ts,
            "purpose": m.purpose,
            "text": m.text,
            "posted_at": _iso(m.created_at),
        }
        for m in session.scalars(
            select(SlackMessage).where(SlackMessage.lead_id == lead.id).order_by(SlackMessage.id)
        )
    ]
    document["queued_slack_messages"] = [
        {
            "kind": row.kind,
            "payload": row.payload,
            "queued_at": _iso(row.created_at),
            "delivered_at": _iso(row.delivered_at),
        }
        for row in session.scalars(
            select(Outbox).where(Outbox.lead_id == lead.id).order_by(Outbox.id)
        )
    ]
    deliveries = session.execute(
        select(WebhookDelivery, WebhookEvent, WebhookEndpoint.url)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.lead_id == lead.id)
        .order_by(WebhookDelivery.id)
    )
    document["webhook_deliveries"] = [
        {
            "type": event.type,
            "message_id": event.message_id,
            "endpoint": url,
            "body": _json_or_text(event.body),
            "created_at": _iso(delivery.created_at),
            "delivered_at": _iso(delivery.delivered_at),
            "attempts": delivery.attempts,
            "last_status": delivery.last_status,
        }
        for delivery, event, url in deliveries
    ]
    document["crm"] = (
        {"system": lead.crm_system, "id": lead.crm_id} if lead.crm_id is not None else None
    )
    return document


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def dumps(document: dict[str, Any]) -> str:
    """The export as JSON text: UTF-8 as it is, every odd character escaped as JSON requires."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
