"""The bookkeeping of webhook delivery; the HTTP call itself is bot/webhooks.py's.

One delivery row per (event, endpoint), the protocol of the Slack outbox:
1. claim: in a short transaction, take the oldest due row of an enabled endpoint whose
   (lead, endpoint) has no earlier row still waiting (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   so several processes never take the same row), count the attempt and lease the row; commit.
2. send, outside any transaction, with the event's ``webhook-id`` (the same on every retry).
3. record: delivered on a 2xx; otherwise the error and the next attempt by the retry schedule.
   410 Gone disables the endpoint; so do 3 days of failures; marketing is told, once.
A row given up after 3 days stops holding up the lead's later rows and stays for
``webhook deliveries --failed`` and ``webhook retry``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from core import webhooks
from core.messages import WebhookDisabled, enqueue
from core.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

MAX_ERROR = 2000


@dataclass(frozen=True)
class Attempt:
    """A claimed delivery: everything the sender needs, read in the claiming transaction."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    message_id: str
    event_type: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Recorded:
    """What recording an outcome did: ``disabled`` when it disabled the endpoint (marketing
    was queued a message), ``gave_up`` when the delivery ran out of retries."""

    disabled: bool = False
    gave_up: bool = False


def _waiting(row: Any) -> list[Any]:
    return [row.delivered_at.is_(None), row.failed_at.is_(None)]


def claim(
    session: Session,
    now: datetime,
    *,
    lease: timedelta,
    exclude: Collection[int] = (),
    only: int | None = None,
) -> Attempt | None:
    """Lease the next due delivery (none of the endpoints in ``exclude``; the delivery
    ``only``, if given and due), or None."""
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.lead_id == WebhookDelivery.lead_id,
        earlier.id < WebhookDelivery.id,
        *_waiting(earlier),
    )
    query = (
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(
            *_waiting(WebhookDelivery),
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.disabled_at.is_(None),
            ~blocked,
        )
        .order_by(WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if exclude:
        query = query.where(WebhookDelivery.endpoint_id.not_in(list(exclude)))
    if only is not None:
        query = query.where(WebhookDelivery.id == only)
    found = session.execute(query).first()
    if found is None:
        return None
    delivery, endpoint, event = found
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = now + lease
    return Attempt(
        delivery.id,
        endpoint.id,
        endpoint.url,
        endpoint.secret,
        event.message_id,
        event.type,
        event.body,
        delivery.attempts,
    )


def _still_ours(session: Session, attempt: Attempt) -> WebhookDelivery | None:
    """The row, unless it was finished meanwhile or taken over after our lease ran out."""
    row = session.get(WebhookDelivery, attempt.delivery_id, with_for_update=True)
    if row is None or row.delivered_at is not None or row.attempts != attempt.attempts:
        return None
    return row


def delivered(session: Session, attempt: Attempt, status: int, now: datetime) -> None:
    row = _still_ours(session, attempt)
    if row is None:
        return
    row.delivered_at = now
    row.last_status = status
    row.last_error = None
    endpoint = session.get(WebhookEndpoint, attempt.endpoint_id)
    if endpoint is not None:
        endpoint.failing_since = None


def failed(
    session: Session, attempt: Attempt, *, status: int | None, error: str, now: datetime
) -> Recorded:
    """Record a failed attempt: schedule the next one, or give up, or disable the endpoint."""
    row = _still_ours(session, attempt)
    if row is None:
        return Recorded()
    row.last_status = status
    row.last_error = error[:MAX_ERROR]
    endpoint = session.get(WebhookEndpoint, attempt.endpoint_id, with_for_update=True)
    if endpoint is None:
        return Recorded()
    if status == 410:
        # The receiver says the endpoint is gone for good; the row waits, due at once, in case
        # an operator enables the endpoint again.
        row.next_attempt_at = now
        return Recorded(disabled=disable(session, endpoint, webhooks.GONE, now))
    following = webhooks.next_attempt(row.attempts, row.created_at, now)
    gave_up = following is None
    if following is None:
        row.failed_at = now
        row.next_attempt_at = now
    else:
        row.next_attempt_at = following
    if endpoint.failing_since is None:
        endpoint.failing_since = min(now, row.created_at)
    disabled = False
    if now - endpoint.failing_since >= webhooks.DISABLE_AFTER:
        disabled = disable(session, endpoint, "every delivery failed for 3 days", now)
    return Recorded(disabled=disabled, gave_up=gave_up)


def disable(session: Session, endpoint: WebhookEndpoint, why: str, now: datetime) -> bool:
    """Disable ``endpoint`` and queue one message to the marketing channel; False if it was
    disabled already (so marketing hears of each disabling once)."""
    if endpoint.disabled_at is not None:
        return False
    endpoint.disabled_at = now
    endpoint.disabled_reason = why
    enqueue(session, WebhookDisabled(endpoint.id, endpoint.url, why, now.isoformat()), now=now)
    return True
