"""The bookkeeping of webhook delivery; the HTTP call itself is bot/webhooks.py's.

One delivery row per (event, endpoint), on the one delivery protocol (:mod:`core.queue`),
ordered per (endpoint, lead), of enabled endpoints only. Sent with the event's ``webhook-id``
(the same on every retry); delivered on a 2xx, otherwise the error and the next attempt by the
retry schedule. 410 Gone disables the endpoint; so do 3 days of failures; marketing is told,
once. A row given up after 3 days stops holding up the lead's later rows and stays for
``webhook deliveries --failed`` and ``webhook retry``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core import webhooks
from core.messages import WebhookDisabled, enqueue
from core.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.queue import MAX_ERROR, Queue


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
    allow_private: bool = False
    failing: bool = False  # the endpoint's last attempts failed


@dataclass(frozen=True)
class Recorded:
    """What recording an outcome did: ``disabled`` when it disabled the endpoint (marketing
    was queued a message), ``gave_up`` when the delivery ran out of retries."""

    disabled: bool = False
    gave_up: bool = False


#: The webhook deliveries on the one protocol: in order per (endpoint, lead).
DELIVERIES: Queue[WebhookDelivery] = Queue(WebhookDelivery, key=("endpoint_id", "lead_id"))
CLAIMABLE = (
    DELIVERIES.claimable(WebhookEndpoint.disabled_at.is_(None))
    .add_columns(WebhookEndpoint, WebhookEvent)
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
)


def claim(
    session: Session,
    now: datetime,
    *,
    lease: timedelta,
    exclude: Collection[int] = (),
    only: int | None = None,
    healthy_only: bool = False,
) -> Attempt | None:
    """Lease the next due delivery (none of the endpoints in ``exclude``; only of endpoints
    whose last attempt did not fail with ``healthy_only``; the delivery ``only``, if given and
    due), or None."""
    query = CLAIMABLE
    if healthy_only:
        query = query.where(WebhookEndpoint.failing_since.is_(None))
    if exclude:
        query = query.where(WebhookDelivery.endpoint_id.not_in(list(exclude)))
    if only is not None:
        query = query.where(WebhookDelivery.id == only)
    found = DELIVERIES.claim(session, now, lease, query)
    if found is None:
        return None
    delivery, endpoint, event = found
    delivery.last_attempt_at = now
    return Attempt(
        delivery.id,
        endpoint.id,
        endpoint.url,
        endpoint.secret,
        event.message_id,
        event.type,
        event.body,
        delivery.attempts,
        allow_private=endpoint.allow_private,
        failing=endpoint.failing_since is not None,
    )


def delivered(session: Session, attempt: Attempt, status: int, now: datetime) -> None:
    row = DELIVERIES.delivered(session, attempt.delivery_id, attempt.attempts, now)
    if row is None:
        return
    row.last_status = status
    endpoint = session.get(WebhookEndpoint, attempt.endpoint_id)
    if endpoint is not None:
        endpoint.failing_since = None


def failed(
    session: Session, attempt: Attempt, *, status: int | None, error: str, now: datetime
) -> Recorded:
    """Record a failed attempt: schedule the next one, or give up, or disable the endpoint."""
    row = DELIVERIES.still_ours(session, attempt.delivery_id, attempt.attempts)
    if row is None:
        return Recorded()
    row.last_status = status
    endpoint = session.get(WebhookEndpoint, attempt.endpoint_id, with_for_update=True)
    if endpoint is None:
        row.last_error = error[:MAX_ERROR]
        return Recorded()
    if status == 410:
        # The receiver says the endpoint is gone for good; the row waits, due at once, in case
        # an operator enables the endpoint again.
        row.last_error = error[:MAX_ERROR]
        row.next_attempt_at = now
        return Recorded(disabled=disable(session, endpoint, webhooks.GONE, now))
    following = webhooks.next_attempt(row.attempts, row.created_at, now)
    gave_up = following is None
    DELIVERIES.failed(
        session, attempt.delivery_id, attempt.attempts, error, now=now, retry_at=following
    )
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
