"""Managing webhook endpoints: add (the secret is returned once), list, remove, queue a test
event, show deliveries, send failed deliveries again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.orm import Session

from core import webhooks
from core.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.services.webhook_events import emit

MAX_DESCRIPTION = 300


class UnknownEndpoint(webhooks.BadEndpoint):
    pass


@dataclass(frozen=True)
class Added:
    endpoint: WebhookEndpoint
    secret: str
    warnings: list[str]


@dataclass(frozen=True)
class Summary:
    endpoint: WebhookEndpoint
    pending: int
    failing: int
    delivered: int


def parse_id(text: str) -> int:
    digits = text.strip().removeprefix("#")
    if not digits.isdigit() or not 0 < int(digits) < 2**63:
        raise UnknownEndpoint(f"{text!r} is not a webhook id (see `leadbot webhook list`)")
    return int(digits)


def get(session: Session, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if endpoint is None:
        raise UnknownEndpoint(f"no webhook with id {endpoint_id} (see `leadbot webhook list`)")
    return endpoint


def add(
    session: Session,
    url: str,
    *,
    events: Iterable[str] | None,
    description: str | None,
    resolve: webhooks.Resolver,
    now: datetime,
    allow_private: bool = False,
) -> Added:
    chosen = webhooks.check_events(events)
    warnings = webhooks.check_url(url, resolve, allow_private=allow_private)
    text = (description or "").strip() or None
    if text and len(text) > MAX_DESCRIPTION:
        raise webhooks.BadEndpoint(f"the description is limited to {MAX_DESCRIPTION} characters")
    secret = webhooks.new_secret()
    endpoint = WebhookEndpoint(
        url=url.strip(),
        description=text,
        events=chosen,
        secret=secret,
        created_at=now,
        allow_private=allow_private,
    )
    session.add(endpoint)
    session.flush()
    return Added(endpoint, secret, warnings)


def summaries(session: Session) -> list[Summary]:
    endpoints = list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
    counts: dict[tuple[int, str], int] = {}
    state = STATE
    for endpoint_id, label, count in session.execute(
        select(WebhookDelivery.endpoint_id, state, func.count()).group_by(
            WebhookDelivery.endpoint_id, state
        )
    ):
        counts[(int(endpoint_id), str(label))] = int(count)
    return [
        Summary(
            e,
            counts.get((e.id, "pending"), 0),
            counts.get((e.id, "failed"), 0),
            counts.get((e.id, "delivered"), 0),
        )
        for e in endpoints
    ]


#: Delivered; failed (the last attempt failed: still retrying, or given up); pending.
STATE = case(
    (WebhookDelivery.delivered_at.is_not(None), "delivered"),
    (WebhookDelivery.gave_up_at.is_not(None), "failed"),
    (WebhookDelivery.attempts > 0, "failed"),
    else_="pending",
)


def remove(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Delete the endpoint; its undelivered rows go with it (the database cascades)."""
    endpoint = get(session, endpoint_id, lock=True)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    session.delete(endpoint)
    session.flush()
    return endpoint


def queue_test(session: Session, endpoint_id: int, *, now: datetime) -> WebhookDelivery:
    """A ``webhook.test`` event for this endpoint alone, due now."""
    endpoint = get(session, endpoint_id)
    if endpoint.disabled_at is not None:
        raise webhooks.BadEndpoint(
            f"webhook {endpoint_id} is disabled ({endpoint.disabled_reason}); "
            f"`leadbot webhook retry {endpoint_id}` enables it again"
        )
    data = {"endpoint_id": endpoint.id, "url": endpoint.url, "message": "leadbot test event"}
    event = emit(session, webhooks.WEBHOOK_TEST, data, lead_id=None, endpoints=[endpoint], now=now)
    assert event is not None  # a test event always goes to the endpoint it names
    return session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
    ).one()


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    event: WebhookEvent

    @property
    def status(self) -> str:
        d = self.delivery
        if d.delivered_at is not None:
            return "delivered"
        if d.gave_up_at is not None:
            return "given up"
        return "retrying" if d.attempts else "pending"


def deliveries(
    session: Session, endpoint_id: int, *, failed_only: bool = False, limit: int = 20
) -> list[DeliveryRow]:
    """The endpoint's latest deliveries, newest first; ``failed_only``: those whose last
    attempt failed (still retrying, or given up)."""
    get(session, endpoint_id)
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if failed_only:
        query = query.where(
            WebhookDelivery.delivered_at.is_(None),
            or_(WebhookDelivery.gave_up_at.is_not(None), WebhookDelivery.attempts > 0),
        )
    return [DeliveryRow(d, e) for d, e in session.execute(query)]


class EndpointGone(webhooks.BadEndpoint):
    """The endpoint was disabled because its receiver said it is gone: only ``enable`` may
    bring it back, deliberately."""


def retry(session: Session, endpoint_id: int, *, now: datetime) -> int:
    """Make every undelivered row of the endpoint due now (given-up rows included), enabling it
    again when it was disabled after days of failures; returns how many rows are queued. An
    endpoint whose receiver answered 410 Gone stays disabled: :class:`EndpointGone` says how
    to enable it."""
    endpoint = get(session, endpoint_id, lock=True)
    if endpoint.disabled_at is not None and endpoint.disabled_reason == webhooks.GONE:
        raise EndpointGone(
            f"webhook {endpoint_id} is disabled: {webhooks.GONE} on "
            f"{endpoint.disabled_at:%Y-%m-%d %H:%M} UTC; if the receiver is back, enable it with "
            f"`leadbot webhook enable {endpoint_id}` (its undelivered events are then sent again)"
        )
    return _requeue(session, endpoint, now)


def enable(session: Session, endpoint_id: int, *, now: datetime) -> int:
    """Enable the endpoint, whatever disabled it, and make its undelivered rows due now."""
    return _requeue(session, get(session, endpoint_id, lock=True), now)


def _requeue(session: Session, endpoint: WebhookEndpoint, now: datetime) -> int:
    endpoint_id = endpoint.id
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.failing_since = None
    rows = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.delivered_at.is_(None)
        )
    ).all()
    for row in rows:
        # A given-up row starts a fresh 3-day schedule from now.
        if row.gave_up_at is not None:
            row.created_at = now
            row.attempts = 0
        row.gave_up_at = None
        row.next_attempt_at = now
    session.flush()
    return len(rows)
