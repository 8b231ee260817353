"""App Home: published whenever someone opens the tab; what it holds is
:func:`core.services.home.home_of`'s, rendered by bot/views/home.py."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.slack.middleware import runtime_of
from bot.slack.present import actions_for, card_of
from bot.views import ids
from bot.views.home import Home, HomeItem, home_view
from core.services.home import home_of

#: The one button a lead of one's own shows in App Home, when it is offered.
PRIMARY = (ids.QUALIFY, ids.OPPORTUNITY)


def build_home(runtime: Runtime, user: str) -> dict[str, Any]:
    config, now = runtime.config, runtime.now()
    managed = [team.name for team in config.teams if user in team.managers]
    by_status = runtime.away_by_status() if managed else {}  # Slack, before the transaction
    with runtime.db.transaction() as session:
        data = home_of(session, config, user, now, by_status)
        home = Home(is_sales=data.is_sales, is_manager=bool(data.managed), teams=data.managed)
        home.mine = [
            HomeItem(
                card_of(lead),
                lead.stage_changed_at,
                action=next((a for a in actions_for(config, user, lead) if a[0] in PRIMARY), None),
            )
            for lead in data.mine
        ]
        home.unaccepted = [
            HomeItem(card_of(lead), lead.stage_changed_at, action=(ids.ASSIGN, "Assign"))
            for lead in data.unaccepted
        ]
        home.breaches = [
            HomeItem(card_of(b.lead), b.since, owner=b.lead.owner) for b in data.breaches
        ]
        home.away, home.capped = data.away, data.capped
    return home_view(home, now)


def on_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    user = event["user"]
    client.views_publish(user_id=user, view=build_home(runtime_of(context), user))


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)
