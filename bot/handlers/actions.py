"""Buttons: Accept and Reject on an alert."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.views import ids
from bot.views.alerts import reject_modal
from core.lifecycle import IllegalTransition
from core.services import handoff
from core.services.stages import Conflict

Body = dict[str, Any]


def tell(client: WebClient, body: Body, text: str) -> None:
    """An ephemeral note to the clicker, where they clicked."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    user = body["user"]["id"]
    if channel:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    else:  # a button in App Home or a DM view: answer in the user's DM
        client.chat_postMessage(channel=user, text=text)


def lead_id_of(body: Body) -> int:
    return int(body["actions"][0]["value"])


def register(app: App, runtime: Runtime) -> None:
    @app.action(ids.ACCEPT)
    def on_accept(ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        try:
            with runtime.db.transaction() as session:
                handoff.accept(
                    session,
                    lead_id_of(body),
                    actor=body["user"]["id"],
                    config=runtime.config,
                    now=runtime.now(),
                )
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            tell(client, body, str(refusal))
            return
        runtime.outbox_changed()

    @app.action(ids.REJECT)
    def on_reject(ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        lead_id = lead_id_of(body)
        try:
            with runtime.db.transaction() as session:
                lead = handoff.check_can_reject(
                    session, lead_id, actor=body["user"]["id"], config=runtime.config
                )
                name = lead.full_name
        except handoff.Refused as refusal:
            tell(client, body, str(refusal))
            return
        reasons = [(reason.code, reason.label) for reason in handoff.REJECT_REASONS]
        container = body.get("container") or {}
        client.views_open(
            trigger_id=body["trigger_id"],
            view=reject_modal(
                lead_id,
                name,
                reasons,
                channel=container.get("channel_id", ""),
                ts=container.get("message_ts", ""),
            ),
        )
