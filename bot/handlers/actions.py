"""Buttons: Accept and Reject on an alert; Qualify, Opportunity, Assign and Nurture on lead
cards, App Home and reminders; Snooze on reminders. Each acks first, reads the lead id from the
button, calls one use case and tells the clicker what happened."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.handlers import modals
from bot.runtime import Runtime
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


@dataclass(frozen=True)
class Click:
    """A click on a lead's button, read: who, which lead, and how to tell the clicker."""

    runtime: Runtime
    body: Body
    client: WebClient
    note: Callable[[str], None]
    lead_id: int
    user: str


def lead_button(act: Callable[[Click], None]) -> Callable[..., None]:
    """A listener for a button whose value is a lead id: ack first, then ``act``; a value that
    names no lead is told so, and nothing else happens."""

    def on_click(
        ack: Ack, body: Body, client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        note = partial(tell, respond, client, body)
        lead_id = lead_id_of(body)
        if lead_id is None:
            note(GONE)
            return
        act(Click(runtime_of(context), body, client, note, lead_id, body["user"]["id"]))

    return on_click


@lead_button
def on_accept(click: Click) -> None:
    runtime = click.runtime
    run_or_tell(
        runtime,
        click.note,
        lambda session: handoff.accept(
            session, click.lead_id, actor=click.user, config=runtime.config, now=runtime.now()
        ),
    )


def opener(build: modals.Builder) -> Callable[..., None]:
    """A button that opens a modal about its lead (after the same checks as the use case)."""

    @lead_button
    def on_click(click: Click) -> None:
        runtime = click.runtime
        view = run_or_tell(
            runtime,
            click.note,
            lambda session: build(runtime, session, click.lead_id, click.user, click.body),
            wake=False,
        )
        problem = view and modals.open_view(
            runtime,
            click.client,
            click.body["trigger_id"],
            view,
            user=click.user,
            lead_id=click.lead_id,
        )
        if problem:
            click.note(problem)

    return on_click


@lead_button
def on_nurture(click: Click) -> None:
    runtime = click.runtime
    lead = run_or_tell(
        runtime,
        click.note,
        lambda session: leadops.park(
            session,
            click.lead_id,
            Stage.NURTURE,
            actor=click.user,
            reason="sent to nurture from Slack",
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if lead is not None:
        click.note(f"#{lead.id} {esc(lead.full_name)} is now in nurture.")


@lead_button
def on_snooze(click: Click) -> None:
    """The lead's next reminder comes one business day later."""
    runtime = click.runtime
    until = run_or_tell(
        runtime,
        click.note,
        lambda session: reminders.snooze_for(
            session, click.lead_id, actor=click.user, config=runtime.config, now=runtime.now()
        ),
        wake=False,
    )
    if until is not None:
        click.note(snoozed_note(f"{until:%a %d %b %H:%M} {until.tzinfo}"))


def register(app: App) -> None:
    app.action(ids.ACCEPT)(on_accept)
    app.action(ids.REJECT)(opener(modals.reject_view))
    app.action(ids.QUALIFY)(opener(modals.bant_view))
    app.action(ids.OPPORTUNITY)(opener(modals.opportunity_view))
    app.action(ids.ASSIGN)(opener(modals.assign_view))
    app.action(ids.NURTURE)(on_nurture)
    app.action(ids.SNOOZE)(on_snooze)
