"""The database schema: SQLAlchemy 2 typed models. Every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.lifecycle import Stage

STAGE_VALUES = tuple(stage.value for stage in Stage)
_STAGE_CHECK = "{} IN (" + ", ".join(f"'{value}'" for value in STAGE_VALUES) + ")"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every engine (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; leadbot stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer primary keys that are BIGINT on PostgreSQL and autoincrementing INTEGER on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def search_key(text: str | None, length: int) -> str | None:
    """The case-folded form of ``text`` that prefix lookups compare (None for no text)."""
    return (text or "").casefold()[:length] or None


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(300))
    company_size: Mapped[int | None] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Case-folded copies for case-insensitive prefix lookup (/lead lookup acme), each with an
    # index of its own so that a prefix is a range scan; set by set_search_keys().
    company_key: Mapped[str | None] = mapped_column(String(300))
    name_key: Mapped[str | None] = mapped_column(String(401))
    last_name_key: Mapped[str | None] = mapped_column(String(200))

    stage: Mapped[str] = mapped_column(String(16), default=Stage.LEAD.value)
    owner: Mapped[str | None] = mapped_column(String(32))
    team: Mapped[str | None] = mapped_column(String(50))
    stage_changed_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the reminders run must next look at this lead: no later than its current stage
    # entry's next reminder; NULL when nothing more can come due (see core/services/reminders).
    next_reminder_at: Mapped[datetime | None]
    # The CRM record this lead is (``hubspot`` and the contact's id), or None.
    crm_system: Mapped[str | None] = mapped_column(String(16))
    crm_id: Mapped[str | None] = mapped_column(String(64))
    # What the CRM record last said (owner, stage values, whether it makes an MQL, when, its
    # URL), as the sync read it or as leadbot last wrote it: a change is what differs from this,
    # so leadbot's own writes coming back are not taken for a person's (core/services/crm_sync).
    crm_seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the CRM reported the record deleted (or archived); the lead stays, unsynced.
    crm_deleted_at: Mapped[datetime | None]
    # Set when the person was erased (on request) or anonymized (retention): the row is then an
    # anonymous tombstone that keeps the funnel and per-source statistics right.
    erased_at: Mapped[datetime | None]
    # Raw events pruned by retention, folded in: their raw decayed points as of ``folded_at``
    # (decaying on from there like the events would have), so the engagement stays what it was.
    folded_at: Mapped[datetime | None]
    folded_engagement: Mapped[float | None] = mapped_column(Float)
    folded_product: Mapped[float | None] = mapped_column(Float)

    # Score snapshot as of updated_at; recomputed on every change of profile or events.
    fit: Mapped[float] = mapped_column(Float, default=0.0)
    grade: Mapped[str] = mapped_column(String(1), default="D")
    engagement: Mapped[float] = mapped_column(Float, default=0.0)
    product: Mapped[float] = mapped_column(Float, default=0.0)
    score_reasons: Mapped[list[Any]] = mapped_column(default=list)

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(_STAGE_CHECK.format("stage"), name="stage"),
        Index(None, "stage", "stage_changed_at"),
        Index(None, "team", "stage"),
        Index(None, "owner", "stage"),
        Index(None, "company_key", postgresql_ops={"company_key": "text_pattern_ops"}),
        Index(None, "name_key", postgresql_ops={"name_key": "text_pattern_ops"}),
        Index(None, "last_name_key", postgresql_ops={"last_name_key": "text_pattern_ops"}),
        Index(None, "next_reminder_at"),
        UniqueConstraint("crm_system", "crm_id"),
    )

    def set_search_keys(self) -> None:
        """Refresh the lookup keys from the profile. casefold() can lengthen text ("ß" -> "ss"),
        so each key is cut to its column."""
        self.company_key = search_key(self.company, 300)
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        self.name_key = search_key(name, 401)
        self.last_name_key = search_key(self.last_name, 200)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.email


class Event(Base):
    """A behavioural or product event; ``event_id`` (the sender's) makes redelivery harmless."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index(None, "lead_id", "occurred_at"),)


class StageTransition(Base):
    """The audit trail: one row per stage change, written in the same transaction as the change."""

    __tablename__ = "stage_transitions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (
        Index(None, "lead_id", "at"),
        Index(None, "to_stage", "at"),
    )


class Qualification(Base):
    """BANT answers as given in one submission of the qualify modal."""

    __tablename__ = "qualifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    budget: Mapped[str] = mapped_column(String(20))
    budget_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    authority: Mapped[str] = mapped_column(String(20))
    need: Mapped[str] = mapped_column(String(20))
    need_text: Mapped[str | None] = mapped_column(Text)
    timeline: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    met: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "lead_id", "created_at"),)


class Opportunity(Base):
    __tablename__ = "opportunities"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date] = mapped_column(Date)
    crm_url: Mapped[str | None] = mapped_column(String(2000))
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)


class ApiKey(Base):
    """An intake API key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Outbox(Base):
    """Something Slack must be told, recorded in the transaction that made it true."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # Set when Slack refused for good (a deleted channel, a deleted message, invalid blocks):
    # the row stays, with its error, for people to see, and stops holding up the lead's queue.
    gave_up_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "delivered_at", "next_attempt_at"),)


class SlackMessage(Base):
    """Every message posted about a lead (the alert, thread replies, reminders, marketing
    feedback, DMs), so later changes edit it in place and an erase can rewrite it. ``purpose``
    is ``alert`` or the outbox kind that posted it; ``text`` the fallback text as posted."""

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))
    # For an alert, the transition that entered the stage it announces: one alert per stage
    # entry. None for the other messages.
    transition_id: Mapped[int | None] = mapped_column(
        ForeignKey("stage_transitions.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("purpose", "transition_id"),
        Index(None, "lead_id"),
    )


class SentReminder(Base):
    """A reminder or escalation that went out: at most one per (stage entry, level)."""

    __tablename__ = "sent_reminders"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    transition_id: Mapped[int] = mapped_column(
        ForeignKey("stage_transitions.id", ondelete="CASCADE")
    )
    level: Mapped[str] = mapped_column(String(30))
    sent_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("transition_id", "level"),)


class ReminderSnooze(Base):
    """Snooze of a stage entry's reminders: the next one goes out no earlier than ``until``."""

    __tablename__ = "reminder_snoozes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    transition_id: Mapped[int] = mapped_column(
        ForeignKey("stage_transitions.id", ondelete="CASCADE"), unique=True
    )
    until: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "lead_id"),)


class ReminderBasis(Base):
    """What the stored ``leads.next_reminder_at`` times were computed from (a fingerprint of the
    SLA and every team's hours and zone): one row, locked by each reminders run."""

    __tablename__ = "reminder_basis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


# --- views the bot opened (replayed or forged submissions) -------------------------------------


class OpenedView(Base):
    """A modal the bot opened: its submission is acted on only if it is this form, from this
    user, and only once (``used_at`` is set by compare-and-set in the submission's transaction).

    ``nonce`` is the view's ``external_id``, recorded before ``views.open`` so a submission can
    never arrive before its record; ``view_id`` is Slack's id, known once ``views.open`` answers.
    """

    __tablename__ = "opened_views"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    view_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    callback_id: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "lead_id"),)


# --- routing: rotation state, offers, away periods ----------------------------------------------


class Rotation(Base):
    """A team's round-robin state (each rep's gained weight). Read and written, row locked, in
    the transaction that makes an offer, so concurrent processes take turns fairly."""

    __tablename__ = "rotations"

    team: Mapped[str] = mapped_column(String(50), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    picks: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class Offer(Base):
    """A qualified lead offered to one rep: only they (or a manager) may accept it until
    ``until``; the reminders job closes the window (``closed_at``)."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    # The stage entry (MQL/PQL) the offer is about: at most one offer per entry.
    transition_id: Mapped[int] = mapped_column(
        ForeignKey("stage_transitions.id", ondelete="CASCADE"), unique=True
    )
    team: Mapped[str] = mapped_column(String(50))
    rep: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(30))
    offered_at: Mapped[datetime]
    until: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "lead_id"),
        Index(None, "closed_at", "until"),
        Index(None, "rep", "offered_at"),
    )


class AwayPeriod(Base):
    """``/lead away``: the user gets no offers from ``created_at`` until ``until`` (None: until
    ``/lead back``, which sets ``ended_at``)."""

    __tablename__ = "away_periods"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index(None, "user", "ended_at"),)


class OwnerChange(Base):
    """The audit trail of ownership: one row per owner change, from whom to whom, who did it
    and why (``round robin``, ``account owner``, ``accepted``, ``assigned by U...``,
    ``claim window ended``)."""

    __tablename__ = "owner_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    from_owner: Mapped[str | None] = mapped_column(String(32))
    to_owner: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]

    __table_args__ = (Index(None, "lead_id", "at"),)


# --- outgoing webhooks -------------------------------------------------------------------------


class WebhookEndpoint(Base):
    """A receiver of signed events. The secret lives only here; it is shown once, at ``add``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(300))
    events: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # Since when every attempt has failed (cleared by any success): 3 days of it disables.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # The operator allowed a private or loopback address (``webhook add --allow-private``).
    allow_private: Mapped[bool] = mapped_column(default=False, server_default=false())


class WebhookEvent(Base):
    """One event as it was when it happened: the exact body every endpoint is sent, signed."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(50))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "lead_id"),)


class WebhookDelivery(Base):
    """The outbox row of one event for one endpoint, delivered in order per (lead, endpoint)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # Tried for 3 days without success: kept for `webhook deliveries --failed` and `retry`.
    gave_up_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "delivered_at", "next_attempt_at"),
        Index(None, "endpoint_id", "lead_id", "delivered_at"),
        Index(None, "event_id"),
    )


# --- learned scoring: model versions -----------------------------------------------------------


class ScoringModel(Base):
    """A trained model version: its table of points (``model``, plain JSON, never a pickle),
    what it was trained on and how it did on its held-out rows. At most one is active."""

    __tablename__ = "scoring_models"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(300))
    positive: Mapped[str] = mapped_column(String(300))
    trained_from: Mapped[datetime | None]
    trained_to: Mapped[datetime | None]
    rows: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None]
    # How it may be used: "promoted" (it proved itself on its holdout), "chosen" (a person ran
    # `scoring use`), "shadow" (held back) or "unchecked" (stored before promotion existed).
    # Only a promoted or chosen version may qualify leads with use = "on".
    status: Mapped[str] = mapped_column(String(16), default="unchecked")
    # The promotion check's verdict, one line for a person.
    decision: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "active"),)


class LeadSnapshot(Base):
    """What a lead looked like when it was scored: the fields scoring and learning read, kept
    each time they differ from the lead's previous snapshot, so training sees a lead as it was
    at the moment it was scored, never a value set after the verdict."""

    __tablename__ = "lead_snapshots"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime]
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index(None, "lead_id", "taken_at"),)


class CrmSyncState(Base):
    """Where the pull from a CRM stands: the adapter's cursor (JSON), the last sync and what it
    cost, and how many records it has seen."""

    __tablename__ = "crm_sync_state"

    system: Mapped[str] = mapped_column(String(16), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None]
    last_duration: Mapped[float | None] = mapped_column(Float)
    last_seen: Mapped[int] = mapped_column(Integer, default=0)
    seen_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # One sync at a time across processes: who holds the lease and until when (renewed with
    # every page; a process killed mid-sync lets it run out).
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class CrmWriteRow(Base):
    """One write to the CRM (a stage's mapped values, an owner, a note/Task), recorded in the
    transaction that made it true and delivered on the one protocol (core/queue.py), in order
    per lead. ``key`` is leadbot's own id for it, carried to the CRM so a retry is not doubled."""

    __tablename__ = "crm_writes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # Refused for good, or failing for a day: kept with its error for `crm status`.
    gave_up_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "delivered_at", "next_attempt_at"),
        Index(None, "lead_id", "id"),
    )


# --- personal data: erasure audit, suppression, the install's secret ----------------------------


class PrivacyAudit(Base):
    """One erase, anonymization or unsuppression: who, when, why; never whom by name (the lead's
    id only, and for an unsuppression nothing but the fact)."""

    __tablename__ = "privacy_audit"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    action: Mapped[str] = mapped_column(String(20))
    lead_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index(None, "at"),)


class Suppression(Base):
    """An erased e-mail address that must not come back, kept only as an HMAC-SHA256 under the
    install's secret (see ``core.privacy``)."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class InstallSecret(Base):
    """Secrets this install made for itself on first use (``suppression``: the HMAC key)."""

    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
