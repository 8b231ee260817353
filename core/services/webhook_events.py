"""Webhook events: what happened to a lead, recorded in the transaction that made it happen, as
one event (the exact body, with the lead as ``GET /api/v1/leads/{id}`` shows it at that moment)
and one delivery row per subscribed endpoint. Nothing is sent here; bot/webhooks.py delivers
the rows after the commit.

Stage changes reach this module through :func:`core.services.stages.transition` (the one place
that writes them); owner changes through :func:`owner_changed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import webhooks
from core.lifecycle import QUALIFIED, Stage
from core.models import Lead, StageTransition, WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.services.leads import lead_detail

PARKED = frozenset({Stage.NURTURE, Stage.UNQUALIFIED})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def subscribers(session: Session) -> list[WebhookEndpoint]:
    """Enabled endpoints (a disabled one gets nothing new until ``webhook retry`` enables it)."""
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.disabled_at.is_(None))
            .order_by(WebhookEndpoint.id)
        )
    )


def emit(
    session: Session,
    event_type: str,
    data: Mapping[str, Any],
    *,
    lead_id: int | None,
    endpoints: Sequence[WebhookEndpoint],
    now: datetime,
) -> WebhookEvent | None:
    """Record one event for those of ``endpoints`` that subscribe to its type."""
    targets = [
        e for e in endpoints if event_type in e.events or event_type == webhooks.WEBHOOK_TEST
    ]
    if not targets:
        return None
    body = json.dumps({"type": event_type, "timestamp": iso(now), "data": dict(data)})
    event = WebhookEvent(
        message_id=webhooks.new_message_id(),
        type=event_type,
        lead_id=lead_id,
        body=body,
        created_at=now,
    )
    session.add(event)
    session.flush()
    for endpoint in targets:
        session.add(
            WebhookDelivery(
                event_id=event.id,
                endpoint_id=endpoint.id,
                lead_id=lead_id,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
    session.flush()
    return event


def _snapshot(session: Session, lead: Lead) -> dict[str, Any]:
    return lead_detail(session, lead).model_dump(mode="json")


def _move(moved: StageTransition) -> dict[str, Any]:
    return {
        "from_stage": moved.from_stage,
        "to_stage": moved.to_stage,
        "actor": moved.actor,
        "reason": moved.reason,
        "at": iso(moved.at),
    }


def transitioned(
    session: Session,
    lead: Lead,
    moved: StageTransition,
    *,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Every event one stage change makes: ``lead.stage_changed`` always, then
    ``lead.qualified``, ``lead.rejected`` or ``lead.opportunity_recorded`` as the new stage
    says (a new owner is :func:`owner_changed`'s, from ``owners.change_owner``). ``details``
    adds what only the use case knows (a reject's reason code and comment)."""
    endpoints = subscribers(session)
    if not endpoints:
        return
    snapshot = _snapshot(session, lead)
    change = _move(moved)
    events: list[tuple[str, dict[str, Any]]] = [(webhooks.LEAD_STAGE_CHANGED, change)]
    to = Stage(moved.to_stage)
    if to in QUALIFIED:
        events.append((webhooks.LEAD_QUALIFIED, {**change, "score": snapshot["score"]}))
    elif to in PARKED:
        extra = dict(details or {})
        events.append(
            (
                webhooks.LEAD_REJECTED,
                {
                    **change,
                    "reason_code": extra.get("reason_code"),
                    "comment": extra.get("comment"),
                },
            )
        )
    elif to is Stage.SQO:
        events.append(
            (webhooks.LEAD_OPPORTUNITY_RECORDED, {**change, "opportunity": snapshot["opportunity"]})
        )
    for event_type, event_change in events:
        emit(
            session,
            event_type,
            {**snapshot, "change": event_change},
            lead_id=lead.id,
            endpoints=endpoints,
            now=moved.at,
        )


def _owner_change(
    previous: str | None, lead: Lead, actor: str, reason: str | None, at: datetime
) -> dict[str, Any]:
    """The ``change`` of a ``lead.owner_changed`` event, with or without a stage change."""
    return {
        "from_owner": previous,
        "to_owner": lead.owner,
        "actor": actor,
        "reason": reason,
        "at": iso(at),
    }


def owner_changed(
    session: Session,
    lead: Lead,
    *,
    previous: str | None,
    actor: str,
    reason: str | None,
    now: datetime,
) -> None:
    """``lead.owner_changed`` for an owner change without a stage change (``/lead assign`` of
    an open lead). Stage changes that move the owner too go through :func:`transitioned`."""
    if lead.owner == previous:
        return
    endpoints = subscribers(session)
    if not endpoints:
        return
    session.flush()
    change = _owner_change(previous, lead, actor, reason, now)
    emit(
        session,
        webhooks.LEAD_OWNER_CHANGED,
        {**_snapshot(session, lead), "change": change},
        lead_id=lead.id,
        endpoints=endpoints,
        now=now,
    )
