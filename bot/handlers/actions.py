"""Buttons: Accept and Reject on an alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.handlers import modals
from bot.runtime import Runtime
from bot.views import ids
from bot.views.alerts import reject_modal
from core.lifecycle import IllegalTransition, Stage
from core.services import handoff, leadops
from core.services.stages import Conflict

Body = dict[str, Any]


def tell(respond: Respond, client: WebClient, body: Body, text: str) -> None:
    """A note only the clicker sees. Through the click's response_url when there is one (it
    works in channels the user is not a member of, where chat.postEphemeral would not), else
    in the user's DM (a button in App Home)."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


def lead_id_of(body: Body) -> int:
    return int(body["actions"][0]["value"])


def register(app: App, runtime: Runtime) -> None:
    @app.action(ids.ACCEPT)
    def on_accept(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
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
            tell(respond, client, body, str(refusal))
            return
        runtime.outbox_changed()

    @app.action(ids.REJECT)
    def on_reject(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
        ack()
        lead_id = lead_id_of(body)
        try:
            with runtime.db.transaction() as session:
                lead = handoff.check_can_reject(
                    session, lead_id, actor=body["user"]["id"], config=runtime.config
                )
                name = lead.full_name
        except handoff.Refused as refusal:
            tell(respond, client, body, str(refusal))
            return
        reasons = [(reason.code, reason.label) for reason in handoff.REJECT_REASONS]
        container = body.get("container") or {}
        view = reject_modal(
            lead_id,
            name,
            reasons,
            channel=container.get("channel_id", ""),
            ts=container.get("message_ts", ""),
        )
        problem = modals.open_view(
            runtime, client, body["trigger_id"], view, user=body["user"]["id"], lead_id=lead_id
        )
        if problem:
            tell(respond, client, body, problem)


def register_lead_buttons(app: App, runtime: Runtime) -> None:
    """Qualify, Opportunity, Assign, Nurture: on lookup cards, App Home and reminders."""

    def opener(build: Callable[[Runtime, int, str], dict[str, Any]]) -> Callable[..., None]:
        def on_click(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
            ack()
            lead_id, user = lead_id_of(body), body["user"]["id"]
            try:
                view = build(runtime, lead_id, user)
            except (handoff.Refused, IllegalTransition) as refusal:
                tell(respond, client, body, str(refusal))
                return
            problem = modals.open_view(
                runtime, client, body["trigger_id"], view, user=user, lead_id=lead_id
            )
            if problem:
                tell(respond, client, body, problem)

        return on_click

    app.action(ids.QUALIFY)(opener(modals.bant_view))
    app.action(ids.OPPORTUNITY)(opener(modals.opportunity_view))
    app.action(ids.ASSIGN)(opener(modals.assign_view))

    @app.action(ids.NURTURE)
    def on_nurture(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
        ack()
        try:
            with runtime.db.transaction() as session:
                lead = leadops.park(
                    session,
                    lead_id_of(body),
                    Stage.NURTURE,
                    actor=body["user"]["id"],
                    reason="sent to nurture from Slack",
                    config=runtime.config,
                    now=runtime.now(),
                )
                label = f"#{lead.id} {lead.full_name}"
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            tell(respond, client, body, str(refusal))
            return
        runtime.outbox_changed()
        tell(respond, client, body, f"{label} is now in nurture.")
