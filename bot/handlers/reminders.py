"""The Snooze button on reminders: the lead's next reminder comes one business day later."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.handlers.actions import lead_id_of, tell
from bot.runtime import Runtime
from bot.views import ids
from bot.views.reminders import snoozed_note
from core.businesstime import hours_of
from core.services import handoff, reminders


def register(app: App, runtime: Runtime) -> None:
    @app.action(ids.SNOOZE)
    def on_snooze(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        try:
            with runtime.db.transaction() as session:
                lead = handoff.get_lead(session, lead_id_of(body))
                until = reminders.snooze(
                    session,
                    lead.id,
                    actor=body["user"]["id"],
                    config=runtime.config,
                    now=runtime.now(),
                )
                _, zone = hours_of(runtime.config, lead.team)
        except handoff.Refused as refusal:
            tell(respond, client, body, str(refusal))
            return
        when = f"{until.astimezone(zone):%a %d %b %H:%M} {zone.key}"
        tell(respond, client, body, snoozed_note(when))
