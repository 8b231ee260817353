"""App Home: published whenever someone opens the tab."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.runtime import Runtime
from bot.slack.present import actions_for, card_of
from bot.views import ids
from bot.views.home import Home, HomeItem, home_view
from core import access
from core.lifecycle import QUALIFIED
from core.models import Lead
from core.services import leadops, offers, reports
from core.services.leads import stage_entry


def build_home(runtime: Runtime, user: str) -> dict[str, Any]:
    config = runtime.config
    now = runtime.now()
    teams = access.sales_teams(config, user)
    managed = [team.name for team in config.teams if user in team.managers]
    home = Home(is_sales=bool(teams), is_manager=bool(managed), teams=managed)
    if not teams:
        return home_view(home, now)
    by_status = runtime.away_by_status() if managed else {}  # Slack, before the transaction
    with runtime.db.transaction() as session:
        mine = []
        for lead in leadops.mine(session, user):
            primary = next(
                (
                    a
                    for a in actions_for(config, user, lead)
                    if a[0] in (ids.QUALIFY, ids.OPPORTUNITY)
                ),
                None,
            )
            mine.append(HomeItem(card_of(lead), lead.stage_changed_at, action=primary))
        home.mine = mine
        if managed:
            waiting = session.scalars(
                select(Lead)
                .where(
                    Lead.team.in_(managed),
                    Lead.stage.in_([s.value for s in QUALIFIED]),
                    Lead.erased_at.is_(None),
                )
                .order_by(Lead.stage_changed_at)
                .limit(50)
            ).all()
            home.unaccepted = [
                HomeItem(card_of(lead), lead.stage_changed_at, action=(ids.ASSIGN, "Assign"))
                for lead in waiting
            ]
            breached: list[HomeItem] = []
            for team in managed:
                funnel = reports.funnel(
                    session, config, since=now - timedelta(days=7), until=now, team=team
                )
                for lead_id in funnel.breaches:
                    breach = session.get(Lead, lead_id)
                    if breach is not None and breach.erased_at is None:
                        entry = stage_entry(session, breach)
                        breached.append(
                            HomeItem(
                                card_of(breach),
                                entry.at if entry else breach.stage_changed_at,
                                owner=breach.owner,
                            )
                        )
            home.breaches = breached
            home.away, home.capped = _availability(session, runtime, managed, by_status)
    return home_view(home, now)


def _availability(
    session: Session, runtime: Runtime, managed: list[str], by_status: Mapping[str, str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The managed teams' reps who are away and those at their cap."""
    config = runtime.config
    away: list[tuple[str, str]] = []
    capped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in managed:
        team = config.team(name)
        if team is None:
            continue
        for person in offers.candidates(session, team, runtime.now(), by_status):
            if person.id in seen:
                continue
            seen.add(person.id)
            if person.away:
                away.append((person.id, person.away))
            elif person.unavailable:
                capped.append((person.id, person.unavailable))
    return away, capped


def register(app: App, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        client.views_publish(user_id=user, view=build_home(runtime, user))
