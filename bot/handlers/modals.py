"""The lead modals (from `/lead` or from a button): who may open them, and what they show.

Each builder runs inside the caller's transaction and raises a refusal with a message for the
user when the modal must not open: permission is checked first (the same predicate as the
button and the use case), then the stage, so nobody learns a stage they may not see. Opening a
modal changes no lead; it is recorded, so that its submission is acted on once. Callers
acknowledge Slack first, then call ``views.open`` with the view (see :func:`open_view`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.runtime import Runtime
from bot.views.alerts import reject_modal
from bot.views.forms import assign_modal, bant_modal, opportunity_modal
from core.services import handoff, leadops, opened_views, qualification

Body = dict[str, Any]
#: A modal builder: (runtime, session, lead id, user, the click or command) -> the view.
Builder = Callable[[Runtime, Session, int, str, Body], dict[str, Any]]


def reject_view(
    runtime: Runtime, session: Session, lead_id: int, user: str, body: Body
) -> dict[str, Any]:
    lead = handoff.check_can_reject(session, lead_id, actor=user, config=runtime.config)
    return reject_modal(
        lead.full_name, [(reason.code, reason.label) for reason in handoff.REJECT_REASONS]
    )


def bant_view(
    runtime: Runtime, session: Session, lead_id: int, user: str, body: Body
) -> dict[str, Any]:
    form = qualification.bant_form(
        session, lead_id, actor=user, config=runtime.config, now=runtime.now()
    )
    return bant_modal(form.lead.full_name, form.answers)


def opportunity_view(
    runtime: Runtime, session: Session, lead_id: int, user: str, body: Body
) -> dict[str, Any]:
    form = qualification.opportunity_form(
        session, lead_id, actor=user, config=runtime.config, now=runtime.now()
    )
    return opportunity_modal(
        form.lead.full_name, list(form.currencies), form.today, form.default_name
    )


def assign_view(
    runtime: Runtime, session: Session, lead_id: int, user: str, body: Body
) -> dict[str, Any]:
    lead = leadops.check_can_assign(session, lead_id, actor=user, config=runtime.config)
    return assign_modal(lead.full_name)


def open_view(
    runtime: Runtime,
    client: WebClient,
    trigger_id: str,
    view: dict[str, Any],
    *,
    user: str,
    lead_id: int,
) -> str | None:
    """``views.open``, recorded so that only this user's one submission of it is acted on
    (see :mod:`core.services.opened_views`); a message for the user if Slack refused (an
    expired trigger, say)."""
    nonce = secrets.token_urlsafe(24)
    with runtime.db.transaction() as session:
        opened_views.record(
            session,
            nonce=nonce,
            callback_id=str(view["callback_id"]),
            user=user,
            lead_id=lead_id,
            now=runtime.now(),
        )
    try:
        response = client.views_open(trigger_id=trigger_id, view={**view, "external_id": nonce})
    except SlackApiError as exc:
        if exc.response is not None and exc.response.status_code == 200:
            # Slack said no (a 5xx may still have opened it: keep the record then).
            with runtime.db.transaction() as session:
                opened_views.forget(session, nonce)
        error = exc.response.get("error") if exc.response else "unknown error"
        return f"Slack could not open the form ({error}). Please try again."
    with runtime.db.transaction() as session:
        opened_views.opened(session, nonce, str(response["view"]["id"]))
    return None
