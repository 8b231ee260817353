"""Buttons: Accept and Reject on an alert; Qualify, Opportunity, Assign and Nurture on lead
cards, App Home and reminders; Snooze on reminders. Each acks first, reads the lead id from the
button, calls one use case and tells the clicker what happened."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.handlers import modals
from bot.slack.middleware import runtime_of
from bot.usecase import run_or_tell
from bot.views import ids
from bot.views.reminders import snoozed_note
from bot.views.text import esc
from core.lifecycle import Stage
from core.services import handoff, leadops, reminders

Body = dict[str, Any]
#: A lead id as a button carries it (PostgreSQL's bigint holds 18 digits).
LEAD_ID = re.compile(r"[1-9][0-9]{0,17}")
GONE = "That lead no longer exists."


def tell(respond: Respond, client: WebClient, body: Body, text: str) -> None:
    """A note only the clicker sees. Through the click's response_url when there is one (it
    works in channels the user is not a member of, where chat.postEphemeral would not), else
    in the user's DM (a button in App Home)."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


def lead_id_of(body: Body) -> int | None:
    """The lead a button names, or None for a value that names no lead."""
    value = body["actions"][0].get("value")
    return int(value) if isinstance(value, str) and LEAD_ID.fullmatch(value) else None


def on_accept(
    ack: Ack, body: Body, client: WebClient, respond: Respond, context: BoltContext
) -> None:
    ack()
    runtime, note = runtime_of(context), partial(tell, respond, client, body)
    lead_id = lead_id_of(body)
    if lead_id is None:
        note(GONE)
        return
    run_or_tell(
        runtime,
        note,
        lambda session: handoff.accept(
            session, lead_id, actor=body["user"]["id"], config=runtime.config, now=runtime.now()
        ),
    )


def opener(build: modals.Builder) -> Callable[..., None]:
    """A button that opens a modal about its lead (after the same checks as the use case)."""

    def on_click(
        ack: Ack, body: Body, client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        runtime, note = runtime_of(context), partial(tell, respond, client, body)
        lead_id, user = lead_id_of(body), body["user"]["id"]
        if lead_id is None:
            note(GONE)
            return
        view = run_or_tell(
            runtime, note, lambda session: build(runtime, session, lead_id, user, body), wake=False
        )
        problem = view and modals.open_view(
            runtime, client, body["trigger_id"], view, user=user, lead_id=lead_id
        )
        if problem:
            note(problem)

    return on_click


def on_nurture(
    ack: Ack, body: Body, client: WebClient, respond: Respond, context: BoltContext
) -> None:
    ack()
    runtime, note = runtime_of(context), partial(tell, respond, client, body)
    lead_id = lead_id_of(body)
    if lead_id is None:
        note(GONE)
        return
    lead = run_or_tell(
        runtime,
        note,
        lambda session: leadops.park(
            session,
            lead_id,
            Stage.NURTURE,
            actor=body["user"]["id"],
            reason="sent to nurture from Slack",
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if lead is not None:
        note(f"#{lead.id} {esc(lead.full_name)} is now in nurture.")


def on_snooze(
    ack: Ack, body: Body, client: WebClient, respond: Respond, context: BoltContext
) -> None:
    """The lead's next reminder comes one business day later."""
    ack()
    runtime, note = runtime_of(context), partial(tell, respond, client, body)
    lead_id = lead_id_of(body)
    if lead_id is None:
        note(GONE)
        return
    until = run_or_tell(
        runtime,
        note,
        lambda session: reminders.snooze_for(
            session, lead_id, actor=body["user"]["id"], config=runtime.config, now=runtime.now()
        ),
        wake=False,
    )
    if until is not None:
        note(snoozed_note(f"{until:%a %d %b %H:%M} {until.tzinfo}"))


def register(app: App) -> None:
    app.action(ids.ACCEPT)(on_accept)
    app.action(ids.REJECT)(opener(modals.reject_view))
    app.action(ids.QUALIFY)(opener(modals.bant_view))
    app.action(ids.OPPORTUNITY)(opener(modals.opportunity_view))
    app.action(ids.ASSIGN)(opener(modals.assign_view))
    app.action(ids.NURTURE)(on_nurture)
    app.action(ids.SNOOZE)(on_snooze)
