"""Buttons: Accept and Reject on an alert; Qualify, Opportunity, Assign and Nurture on lead
cards, App Home and reminders."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.handlers import modals
from bot.runtime import Runtime
from bot.usecase import run_or_tell
from bot.views import ids
from core.lifecycle import Stage
from core.services import handoff, leadops

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
        run_or_tell(
            runtime,
            partial(tell, respond, client, body),
            lambda session: handoff.accept(
                session,
                lead_id_of(body),
                actor=body["user"]["id"],
                config=runtime.config,
                now=runtime.now(),
            ),
        )


def register_lead_buttons(app: App, runtime: Runtime) -> None:
    """Reject, Qualify, Opportunity, Assign open their modals; Nurture acts at once."""

    def opener(build: modals.Builder) -> Callable[..., None]:
        def on_click(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
            ack()
            note = partial(tell, respond, client, body)
            lead_id, user = lead_id_of(body), body["user"]["id"]
            view = run_or_tell(
                runtime,
                note,
                lambda session: build(runtime, session, lead_id, user, body),
                wake=False,
            )
            problem = view and modals.open_view(
                runtime, client, body["trigger_id"], view, user=user, lead_id=lead_id
            )
            if problem:
                note(problem)

        return on_click

    app.action(ids.REJECT)(opener(modals.reject_view))
    app.action(ids.QUALIFY)(opener(modals.bant_view))
    app.action(ids.OPPORTUNITY)(opener(modals.opportunity_view))
    app.action(ids.ASSIGN)(opener(modals.assign_view))

    @app.action(ids.NURTURE)
    def on_nurture(ack: Ack, body: Body, client: WebClient, respond: Respond) -> None:
        ack()
        note = partial(tell, respond, client, body)
        lead = run_or_tell(
            runtime,
            note,
            lambda session: leadops.park(
                session,
                lead_id_of(body),
                Stage.NURTURE,
                actor=body["user"]["id"],
                reason="sent to nurture from Slack",
                config=runtime.config,
                now=runtime.now(),
            ),
        )
        if lead is not None:
            note(f"#{lead.id} {lead.full_name} is now in nurture.")
