"""The Snooze button on reminders: the lead's next reminder comes one business day later."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.handlers.actions import lead_id_of, tell
from bot.runtime import Runtime
from bot.usecase import run_or_tell
from bot.views import ids
from bot.views.reminders import snoozed_note
from core.businesstime import hours_of
from core.services import reminders
from core.services.leads import get_lead


def register(app: App, runtime: Runtime) -> None:
    @app.action(ids.SNOOZE)
    def on_snooze(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        note = partial(tell, respond, client, body)

        def snooze(session: Session) -> datetime:
            """When the next reminder goes out, in the lead's team's time zone."""
            lead = get_lead(session, lead_id_of(body))
            until = reminders.snooze(
                session, lead.id, actor=body["user"]["id"], config=runtime.config, now=runtime.now()
            )
            return until.astimezone(hours_of(runtime.config, lead.team)[1])

        until = run_or_tell(runtime, note, snooze, wake=False)
        if until is not None:
            note(snoozed_note(f"{until:%a %d %b %H:%M} {until.tzinfo}"))
