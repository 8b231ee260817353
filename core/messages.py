"""What must be said, as typed messages: one frozen dataclass per outbox kind.

A use case records a message with :func:`enqueue` in the transaction that made it true; the
notifier reads the row back with :func:`read` and dispatches on the type. The stored form is the
row's ``kind`` (each class's ``KIND``) and a JSON payload of the fields other than ``lead_id``
(which has its own column), so rows written before these types existed read back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from core.db import insert_or_ignore
from core.models import Outbox


@dataclass(frozen=True)
class _OncePerEntry:
    """A message said once per stage entry ``transition_id`` of the lead."""

    KIND: ClassVar[str]
    lead_id: int
    transition_id: int

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.KIND}:{self.transition_id}"


@dataclass(frozen=True)
class LeadQualified(_OncePerEntry):
    """Announce a lead that became an MQL/PQL in its team's channel (marketing's if unrouted)."""

    KIND: ClassVar[str] = "lead_qualified"
    team: str | None
    stage: str


@dataclass(frozen=True)
class AlertRefresh:
    """Edit the lead's alert to show what happened since."""

    KIND: ClassVar[str] = "alert_refresh"
    lead_id: int
    dedupe_key: ClassVar[str | None] = None


@dataclass(frozen=True)
class _MarketingNote:
    """Tell marketing what sales did with the lead after ``waited_seconds`` in the queue;
    ``transition_id`` is the move."""

    lead_id: int
    transition_id: int
    actor: str
    waited_seconds: int
    dedupe_key: ClassVar[str | None] = None


@dataclass(frozen=True)
class MarketingAccepted(_MarketingNote):
    """Sales took the lead (``assigned_by`` a manager who gave it)."""

    KIND: ClassVar[str] = "marketing_accepted"
    assigned_by: str | None = None


@dataclass(frozen=True)
class MarketingRejected(_MarketingNote):
    """Sales turned the lead down: a Reject ``reason`` code, or for a lead parked without the
    modal the transition's own ``reason_text``."""

    KIND: ClassVar[str] = "marketing_rejected"
    reason: str | None = None
    reason_text: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class AssignedDm:
    """Tell ``owner`` that ``actor`` gave them the lead."""

    KIND: ClassVar[str] = "assigned_dm"
    lead_id: int
    owner: str
    actor: str
    dedupe_key: ClassVar[str | None] = None


@dataclass(frozen=True)
class _Reminder:
    """One reminder of an SLA ``level`` for the stage entry ``transition_id``, to ``to`` (a user
    or a channel); ``repeats`` is the level whose message it sends."""

    lead_id: int
    transition_id: int
    stage: str
    level: str
    repeats: str
    due_at: str
    to: str
    mentions: tuple[str, ...] = ()
    instead_of: str | None = None

    @property
    def dedupe_key(self) -> str | None:
        return f"reminder:{self.transition_id}:{self.level}:{self.to}"


@dataclass(frozen=True)
class ReminderThread(_Reminder):
    """In the alert's thread, mentioning the team."""

    KIND: ClassVar[str] = "reminder_thread"


@dataclass(frozen=True)
class ReminderEscalation(_Reminder):
    """A DM to a manager: the team let the alert wait too long."""

    KIND: ClassVar[str] = "reminder_escalation"


@dataclass(frozen=True)
class ReminderOwner(_Reminder):
    """A DM to the owner (or, for a departed owner, to a manager standing in)."""

    KIND: ClassVar[str] = "reminder_owner"


@dataclass(frozen=True)
class DigestRule:
    """The week's worst scoring rule: ``bad_fit`` of ``decided`` leads it scored were rejected
    as a bad fit, against ``overall_bad_fit`` of ``overall_decided``."""

    rule: str
    bad_fit: int
    decided: int
    overall_bad_fit: int
    overall_decided: int


@dataclass(frozen=True)
class DigestSource:
    name: str | None
    accepted: int
    decided: int


@dataclass(frozen=True)
class DigestWeek:
    """What the digest says about the last 7 days (see ``core.services.outcomes``)."""

    since: str
    decided: int
    worst_rule: DigestRule | None
    best_source: DigestSource | None
    worst_source: DigestSource | None


@dataclass(frozen=True)
class Digest:
    """Yesterday's numbers and the funnel series for the marketing channel; once per day."""

    KIND: ClassVar[str] = "digest"
    day: str
    since: str
    until: str
    mql: int
    pql: int
    accepted: int
    rejected: int
    top_rejections: tuple[tuple[str, int], ...]
    median_accept_seconds: float | None
    unrouted: int
    breaches: int
    breach_leads: tuple[int, ...]
    series: dict[str, Any]
    week: DigestWeek | None = None  # None: too few verdicts (and in digests queued before it)
    #: One line per model version trained that day: promoted, or kept in shadow and why.
    models: tuple[str, ...] = ()

    @property
    def dedupe_key(self) -> str | None:
        return digest_key(self.day)


@dataclass(frozen=True)
class OfferDm(_OncePerEntry):
    """Tell ``rep`` that the lead (its stage entry ``transition_id``) is offered to them."""

    KIND: ClassVar[str] = "offer_dm"
    rep: str


@dataclass(frozen=True)
class RoutingFallback(_OncePerEntry):
    """In the alert's thread, tell the team's managers that no rep could be offered the lead,
    and why each was passed over (``(rep, why)`` pairs)."""

    KIND: ClassVar[str] = "routing_fallback"
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebhookDisabled:
    """Tell marketing that a webhook endpoint was disabled (410 Gone, or 3 days of failures);
    once per disabling, ``disabled_at`` telling one from the next."""

    KIND: ClassVar[str] = "webhook_disabled"
    endpoint_id: int
    url: str
    reason: str
    disabled_at: str

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.KIND}:{self.endpoint_id}:{self.disabled_at}"


@dataclass(frozen=True)
class CrmWriteGaveUp:
    """Tell marketing that a write to the CRM was given up (refused, or failing for a day):
    once per write."""

    KIND: ClassVar[str] = "crm_write_gave_up"
    lead_id: int
    write_id: int
    system: str
    what: str
    error: str

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.KIND}:{self.write_id}"


@dataclass(frozen=True)
class LeadErased:
    """Rewrite one Slack message leadbot posted about an erased (or anonymized) lead to say so,
    without buttons: the message at ``channel``/``ts``; ``on`` the day of the erase (ISO)."""

    KIND: ClassVar[str] = "lead_erased"
    lead_id: int
    channel: str
    ts: str
    on: str
    anonymized: bool = False
    #: For a message about another lead that mentioned the erased person: its words without
    #: them (instead of the "erased" line).
    text: str | None = None

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.KIND}:{self.channel}:{self.ts}"


@dataclass(frozen=True)
class HomeRefresh:
    """Publish ``user``'s App Home again (it may have shown the lead, which is gone now)."""

    KIND: ClassVar[str] = "home_refresh"
    lead_id: int
    user: str
    dedupe_key: ClassVar[str | None] = None


def digest_key(day: str) -> str:
    """One digest per UTC day (``day`` in ISO form)."""
    return f"digest:{day}"


Message = (
    LeadQualified
    | AlertRefresh
    | MarketingAccepted
    | MarketingRejected
    | AssignedDm
    | ReminderThread
    | ReminderEscalation
    | ReminderOwner
    | Digest
    | OfferDm
    | RoutingFallback
    | WebhookDisabled
    | CrmWriteGaveUp
    | LeadErased
    | HomeRefresh
)
Reminder = ReminderThread | ReminderEscalation | ReminderOwner

TYPES: dict[str, type[Message]] = {
    cls.KIND: cls
    for cls in (
        LeadQualified,
        AlertRefresh,
        MarketingAccepted,
        MarketingRejected,
        AssignedDm,
        ReminderThread,
        ReminderEscalation,
        ReminderOwner,
        Digest,
        OfferDm,
        RoutingFallback,
        WebhookDisabled,
        CrmWriteGaveUp,
        LeadErased,
        HomeRefresh,
    )
}
_ADAPTERS: dict[type[Message], TypeAdapter[Any]] = {cls: TypeAdapter(cls) for cls in TYPES.values()}


class Unreadable(Exception):
    """A row no message type fits: an unknown kind, or a payload that does not fit its kind."""


def lead_of(message: Message) -> int | None:
    return getattr(message, "lead_id", None)


def payload(message: Message) -> dict[str, Any]:
    """The JSON payload: every field but ``lead_id``."""
    dumped: dict[str, Any] = _ADAPTERS[type(message)].dump_python(message, mode="json")
    dumped.pop("lead_id", None)
    return dumped


def read(kind: str, lead_id: int | None, data: dict[str, Any]) -> Message:
    """The message a stored row holds; :class:`Unreadable` if none fits."""
    cls = TYPES.get(kind)
    if cls is None:
        raise Unreadable(f"unknown outbox kind {kind!r}")
    if any(f.name == "lead_id" for f in fields(cls)):
        data = {**data, "lead_id": lead_id}
    try:
        message: Message = _ADAPTERS[cls].validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or kind}: {error['msg']}"
            for error in exc.errors()
        )
        raise Unreadable(f"outbox {kind} payload does not fit: {problems}") from exc
    return message


def enqueue(session: Session, message: Message, *, now: datetime) -> bool:
    """Record ``message`` for delivery after this transaction commits. A message with a
    ``dedupe_key`` is recorded once however often it is enqueued; True if this call did."""
    values: dict[str, Any] = {
        "kind": message.KIND,
        "lead_id": lead_of(message),
        "payload": payload(message),
        "dedupe_key": message.dedupe_key,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    # Flush first: rows added earlier in this transaction keep their place in the lead's queue.
    session.flush()
    if message.dedupe_key is None:
        session.add(Outbox(**values))
        session.flush()
        return True
    return insert_or_ignore(session, Outbox, values, ("dedupe_key",))
